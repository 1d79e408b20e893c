// Package web holds the HTTP conventions every API of the product shares:
// the JSON envelope, the one mapping from error codes to statuses, request
// binding with field-level validation errors, pagination and middleware
// (request IDs, structured logs, metrics, panics, body limits).
package web

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
)

// Envelope is the body of every JSON response: data on success, error on
// failure, and the request ID either way so a villager's complaint can be
// traced to a log line.
type Envelope struct {
	Data      any           `json:"data,omitempty"`
	Page      *PageInfo     `json:"page,omitempty"`
	Error     *apperr.Error `json:"error,omitempty"`
	RequestID string        `json:"request_id"`
}

// statusOf is the one table from error codes to HTTP statuses. Codes not
// listed are domain refusals of a well-formed request: 422.
var statusOf = map[apperr.Code]int{
	apperr.CodeInvalid:          http.StatusBadRequest,
	apperr.CodeUnauthenticated:  http.StatusUnauthorized,
	apperr.CodeForbidden:        http.StatusForbidden,
	apperr.CodeOutOfScope:       http.StatusForbidden,
	apperr.CodeConflictInterest: http.StatusForbidden,
	apperr.CodeNotFound:         http.StatusNotFound,
	apperr.CodeConflict:         http.StatusConflict,
	apperr.CodeIdempotency:      http.StatusConflict,
	apperr.CodeAlreadyReversed:  http.StatusConflict,
	apperr.CodeAccountLocked:    http.StatusLocked,
	apperr.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	apperr.CodeRateLimited:      http.StatusTooManyRequests,
	apperr.CodeUnavailable:      http.StatusServiceUnavailable,
	apperr.CodeInternal:         http.StatusInternalServerError,
}

// Status returns the HTTP status for an error code.
func Status(code apperr.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusUnprocessableEntity
}

// OK writes data with status 200.
func OK(c *gin.Context, data any) {
	c.JSON(http.StatusOK, Envelope{Data: data, RequestID: RequestID(c)})
}

// Created writes data with status 201.
func Created(c *gin.Context, data any) {
	c.JSON(http.StatusCreated, Envelope{Data: data, RequestID: RequestID(c)})
}

// List writes one page of items.
func List(c *gin.Context, items any, p Page, total int64) {
	c.JSON(http.StatusOK, Envelope{Data: items, Page: &PageInfo{Page: p.Number, PageSize: p.Size, Total: total}, RequestID: RequestID(c)})
}

// Fail writes err as the error envelope. Internal errors are logged with
// their cause and shown to the client only as a generic message.
func Fail(c *gin.Context, err error) {
	e := apperr.From(err)
	status := Status(e.Code)
	if status >= 500 {
		slog.ErrorContext(c.Request.Context(), "request failed", "request_id", RequestID(c), "err", err)
	}
	c.Error(err) //nolint:errcheck // recorded for the access log
	c.AbortWithStatusJSON(status, Envelope{Error: e, RequestID: RequestID(c)})
}

// Handle adapts a handler that returns an error to gin, so handlers end in
// one `return` and never forget to stop after writing an error.
func Handle(h func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			Fail(c, err)
		}
	}
}
