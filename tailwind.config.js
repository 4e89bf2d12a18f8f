/**
 * Atrium's Tailwind CSS configuration: classes are read from the templ files and Go view code.
 *
 * Colours come from static/src/palette.json, each name with its light and its dark value. A colour
 * class reads a CSS variable (bg-white is var(--c-white)), and the variables change with the theme:
 * light by default, dark when the system asks for it (prefers-color-scheme) unless the page is
 * set to light, or when the page is set to dark (the `dark` / `light` class on <html>, chosen in
 * the user menu and applied by static/js/theme.js before the first paint). So every page and
 * every chart follows the theme without dark: variants on each element. The pairs in use are
 * checked for WCAG AA contrast in both themes by static/palette_test.go.
 */
const palette = require("./static/src/palette.json");

const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)).join(" ");
const colors = { transparent: "transparent", current: "currentColor", inherit: "inherit", black: "#000" };
const light = {}, dark = {};
for (const [name, [l, d]] of Object.entries(palette)) {
  const v = `--c-${name}`;
  light[v] = hex(l);
  dark[v] = hex(d);
  const value = `rgb(var(${v}) / <alpha-value>)`;
  const [hue, shade] = name.split("-");
  if (shade === undefined) colors[hue] = value;
  else (colors[hue] = colors[hue] || {})[shade] = value;
}

module.exports = {
  content: ["./views/**/*.templ", "./views/**/*.go", "./handlers/**/*.go", "./static/js/app.js", "./static/js/theme.js"],
  // The theme classes are set by script on <html>.
  safelist: ["dark", "light", "js"],
  // dark: variants (for the rare element that needs more than the palette's swap) follow the same rule.
  darkMode: ["variant", ["@media (prefers-color-scheme: dark) { &:not(.light *) }", "&:is(.dark *)"]],
  theme: {
    colors,
    extend: {
      fontFamily: {
        sans: ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
      },
    },
  },
  plugins: [
    function ({ addBase }) {
      addBase({
        ":root": { ...light, "color-scheme": "light" },
        "@media (prefers-color-scheme: dark)": { ":root:not(.light)": { ...dark, "color-scheme": "dark" } },
        ":root.dark": { ...dark, "color-scheme": "dark" },
      });
    },
  ],
};
