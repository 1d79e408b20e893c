package web

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
)

// Page is a validated page request: Number counts from 1.
type Page struct {
	Number int
	Size   int
}

// PageInfo describes the page a list response carries.
type PageInfo struct {
	Page     int   `json:"page"`
	PageSize int   `json:"page_size"`
	Total    int64 `json:"total"`
}

// Offset is the number of rows before this page.
func (p Page) Offset() int { return (p.Number - 1) * p.Size }

// Pagination limits.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// ParsePage reads ?page= and ?page_size= with defaults and limits.
func ParsePage(c *gin.Context) (Page, error) {
	p := Page{Number: 1, Size: DefaultPageSize}
	if s := c.Query("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, apperr.Invalid("page", "page 必须是从 1 开始的整数")
		}
		p.Number = n
	}
	if s := c.Query("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			return p, apperr.Invalid("page_size", "page_size 必须是 1 到 100 之间的整数")
		}
		p.Size = n
	}
	return p, nil
}

// PathID reads a positive integer path parameter.
func PathID(c *gin.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.Invalid(name, "路径参数 "+name+" 必须是正整数")
	}
	return id, nil
}

// ListPage answers with the page of fn's list that ?page= and ?page_size=
// ask for, and the list's total.
func ListPage[T any](c *gin.Context, fn func(offset, limit int) ([]T, int64, error)) error {
	page, err := ParsePage(c)
	if err != nil {
		return err
	}
	list, total, err := fn(page.Offset(), page.Size)
	if err != nil {
		return err
	}
	List(c, list, page, total)
	return nil
}
