package web

import (
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
)

// ReadUpload reads the multipart file field of a request, refusing files
// over max bytes (the body limit still applies first).
func ReadUpload(c *gin.Context, field string, max int64) ([]byte, error) {
	fh, err := c.FormFile(field)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apperr.New(apperr.CodeTooLarge, "上传内容过大")
		}
		return nil, apperr.Invalid(field, "请以 multipart/form-data 上传字段 "+field)
	}
	if fh.Size > max {
		return nil, apperr.New(apperr.CodeTooLarge, "上传文件过大")
	}
	f, err := fh.Open()
	if err != nil {
		return nil, apperr.Invalid(field, "无法读取上传的文件")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil || int64(len(b)) > max {
		return nil, apperr.New(apperr.CodeTooLarge, "上传文件过大")
	}
	return b, nil
}
