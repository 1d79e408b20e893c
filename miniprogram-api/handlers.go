// Package miniprogramapi is the API the WeChat mini-program calls (under
// /mp/v1), separate from the staff console. Its contract is openapi.yaml
// beside this file, which also describes the console API.
package miniprogramapi

import (
	_ "embed"

	"github.com/gin-gonic/gin"
)

// OpenAPI is the API description of every route the server registers.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Handlers holds what the mini-program's handlers depend on.
type Handlers struct{}

// Register mounts the mini-program API on r (normally /mp/v1).
func (h *Handlers) Register(r *gin.RouterGroup) {}
