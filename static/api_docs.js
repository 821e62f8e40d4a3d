// The API reference page (/docs/api): Swagger UI, vendored in static/vendor/swagger-ui
// (no CDN), draws the description the app serves at /api/openapi.json. Its
// "Try it out" calls go to this site with the browser's session (writes also
// need the page's CSRF token: scripts use a Bearer token, see "Authorize").

const root = document.getElementById("api-reference");

window.SwaggerUIBundle({
  url: root.dataset.specUrl,
  domNode: root,
  deepLinking: true,
  // No request to swagger.io's validator: the page talks to this site only.
  validatorUrl: null,
});
