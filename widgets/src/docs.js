// /docs: the server's OpenAPI document rendered by Swagger UI (swagger-ui-dist from npm,
// bundled here: no CDN). The AsyncAPI document of the Socket.IO events is linked from the
// page header (/asyncapi.json).
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-bundle.js";
import "swagger-ui-dist/swagger-ui.css";

SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#api",
  deepLinking: true,
  tryItOutEnabled: false,
  defaultModelsExpandDepth: 0,
  docExpansion: "list",
});
