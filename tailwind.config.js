/** Atrium's Tailwind CSS configuration: classes are read from the templ files and Go view code. */
module.exports = {
  content: ["./views/**/*.templ", "./views/**/*.go", "./handlers/**/*.go", "./static/js/app.js"],
  theme: {
    extend: {
      fontFamily: {
        sans: ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
      },
    },
  },
  plugins: [],
};
