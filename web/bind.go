package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"
	"github.com/go-playground/validator/v10"

	"github.com/villagepoints/jifen/apperr"
)

// BindJSON decodes the request body into req, a request type (never a
// storage model). Unknown fields are refused, so a client learns at once
// that it may not set, say, a balance or a village; then the `binding`
// struct tags are checked and the first failure is reported by its JSON
// field name.
func BindJSON(c *gin.Context, req any) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apperr.New(apperr.CodeTooLarge, "请求内容过大")
		}
		return apperr.New(apperr.CodeInvalid, "无法读取请求内容")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return apperr.New(apperr.CodeInvalid, "请求体只能包含一个 JSON 对象")
	}
	return Validate(req)
}

// BindQuery decodes query parameters into req (`form` tags) and validates it.
func BindQuery(c *gin.Context, req any) error {
	if err := c.ShouldBindQuery(req); err != nil {
		return validationError(req, err)
	}
	return nil
}

// Validate checks the `binding` tags of req.
func Validate(req any) error {
	if err := binding.Validator.ValidateStruct(req); err != nil {
		return validationError(req, err)
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return apperr.New(apperr.CodeInvalid, "请求体不能为空")
	case errors.As(err, &syn):
		return apperr.Newf(apperr.CodeInvalid, "请求体不是合法的 JSON（第 %d 字节附近）", syn.Offset)
	case errors.As(err, &typ):
		return apperr.Invalid(typ.Field, fmt.Sprintf("字段 %s 的类型不正确，应为 %s", typ.Field, typ.Type.String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.Invalid(field, fmt.Sprintf("不允许提交字段 %s", field))
	}
	return apperr.New(apperr.CodeInvalid, "请求体不是合法的 JSON")
}

// validationError names the first failing field by its JSON (or form) name
// with a message staff can act on.
func validationError(req any, err error) error {
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) || len(verrs) == 0 {
		return apperr.New(apperr.CodeInvalid, "请求参数不正确")
	}
	fe := verrs[0]
	name := fieldName(req, fe)
	var msg string
	switch fe.Tag() {
	case "required":
		msg = fmt.Sprintf("缺少必填字段 %s", name)
	case "max":
		msg = fmt.Sprintf("字段 %s 超出上限 %s", name, fe.Param())
	case "min":
		msg = fmt.Sprintf("字段 %s 低于下限 %s", name, fe.Param())
	case "oneof":
		msg = fmt.Sprintf("字段 %s 只能取 %s 之一", name, fe.Param())
	case "gt", "gte", "lt", "lte":
		msg = fmt.Sprintf("字段 %s 的取值超出允许范围（%s %s）", name, fe.Tag(), fe.Param())
	default:
		msg = fmt.Sprintf("字段 %s 的取值不正确", name)
	}
	return apperr.Invalid(name, msg)
}

// fieldName maps a struct field back to its json or form tag.
func fieldName(req any, fe validator.FieldError) string {
	t := reflect.TypeOf(req)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// Namespace is "Type.Field.Sub"; walk it to find tags of nested fields.
	parts := strings.Split(fe.StructNamespace(), ".")
	var names []string
	for _, p := range parts[1:] {
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		idx := ""
		if i := strings.IndexByte(p, '['); i >= 0 {
			p, idx = p[:i], p[i:]
		}
		if t.Kind() != reflect.Struct {
			names = append(names, p+idx)
			continue
		}
		f, ok := t.FieldByName(p)
		if !ok {
			names = append(names, p+idx)
			continue
		}
		n := strings.Split(f.Tag.Get("json"), ",")[0]
		if n == "" || n == "-" {
			n = strings.Split(f.Tag.Get("form"), ",")[0]
		}
		if n == "" {
			n = p
		}
		names = append(names, n+idx)
		t = f.Type
	}
	return strings.Join(names, ".")
}

// DayRange is a query's range of calendar days, YYYY-MM-DD, both
// inclusive (?from=&to=); what a missing side means is the route's call.
type DayRange struct {
	From string `form:"from" binding:"max=10"`
	To   string `form:"to" binding:"max=10"`
}
