package miniprogramapi

import (
	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/identity"
)

// bound returns the caller, refusing one whose WeChat account is not yet
// bound to a resident: every points, ranking and store route answers for
// the caller's own resident and household only.
func bound(c *gin.Context) (identity.Caller, error) {
	who := caller(c)
	if !who.Bound() {
		return who, apperr.New(apperr.CodeForbidden, "请先绑定村民身份")
	}
	return who, nil
}
