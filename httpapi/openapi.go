package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is the OpenAPI 3.1 description of every route New
// registers, served at /api/v1/openapi.json. openapi_test.go holds it to
// the routes and to every answer the server gives, the recorded
// transcript's included.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI answers with the document, with an ETag and 304s like every
// other JSON answer.
func serveOpenAPI(c echo.Context) error {
	return sendJSON(c, http.StatusOK, openAPIDocument)
}
