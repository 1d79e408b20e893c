package web

import (
	"regexp"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
)

var validIdempotencyKey = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,64}$`)

// IdempotencyKey returns the request's Idempotency-Key header, which every
// write that posts points requires: a retried or double-tapped request
// carries the same key and gets the first result back instead of posting
// twice.
func IdempotencyKey(c *gin.Context) (string, error) {
	k := c.GetHeader("Idempotency-Key")
	if !validIdempotencyKey.MatchString(k) {
		return "", apperr.Invalid("Idempotency-Key", "请求头 Idempotency-Key 必填：8-64 位字母、数字或 ._:-，同一操作重试时须保持不变")
	}
	return k, nil
}
