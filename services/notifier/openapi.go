package notifier

import _ "embed"

// OpenAPIPath is where the service serves its OpenAPI document, on the
// platform's one origin as on its own address.
const OpenAPIPath = "/api/v1/openapi/notifier.json"

// openAPI describes the public API (OpenAPI 3.1); a test keeps it and the
// router in step, and make lint runs Redocly's lint on it.
//
//go:embed openapi.json
var openAPI []byte
