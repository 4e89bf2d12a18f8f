DROP FUNCTION atrium_support_look(text, uuid, timestamptz, uuid, text, integer, text);
