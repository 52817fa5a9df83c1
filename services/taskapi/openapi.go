package taskapi

import _ "embed"

// openAPI describes the public API (OpenAPI 3.1); a test keeps it and the
// router in step.
//
//go:embed openapi.json
var openAPI []byte
