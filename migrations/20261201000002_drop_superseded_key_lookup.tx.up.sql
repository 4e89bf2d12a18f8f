-- atrium_api_key_by_prefix was superseded by atrium_api_key_by_prefix_v2 (which also answers the
-- previous secret of a rolled key and whether the key's creator may still hold keys); nothing
-- calls it any more.
DROP FUNCTION atrium_api_key_by_prefix(text);
