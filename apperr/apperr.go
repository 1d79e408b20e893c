// Package apperr is the one error type every layer returns to a client.
//
// An Error carries a stable machine-readable Code, a message a person can act
// on (in Chinese, since villagers and village staff read it) and, for
// validation failures, the field at fault. Internal errors never carry their
// text to a client: they are wrapped as CodeInternal and logged instead.
package apperr

import (
	"errors"
	"fmt"
)

// Code is a stable error code; clients switch on it, so never rename one.
type Code string

// The codes shared by every part of the product. Packages add their own
// codes next to the logic that raises them.
const (
	CodeInvalid          Code = "INVALID_ARGUMENT"
	CodeUnauthenticated  Code = "UNAUTHENTICATED"
	CodeForbidden        Code = "FORBIDDEN"
	CodeOutOfScope       Code = "OUT_OF_SCOPE"
	CodeNotFound         Code = "NOT_FOUND"
	CodeConflict         Code = "CONFLICT"
	CodeIdempotency      Code = "IDEMPOTENCY_KEY_REUSED"
	CodeRateLimited      Code = "RATE_LIMITED"
	CodeAccountLocked    Code = "ACCOUNT_LOCKED"
	CodeTooLarge         Code = "PAYLOAD_TOO_LARGE"
	CodeUnavailable      Code = "UNAVAILABLE"
	CodeInternal         Code = "INTERNAL"
	CodeImportRejected   Code = "IMPORT_REJECTED"
	CodePointsShort      Code = "POINTS_INSUFFICIENT"
	CodeStockShort       Code = "STOCK_INSUFFICIENT"
	CodeAlreadyReversed  Code = "ALREADY_REVERSED"
	CodeRuleCapReached   Code = "RULE_CAP_REACHED"
	CodeConflictInterest Code = "CONFLICT_OF_INTEREST"
)

// Error is a domain error a client may see.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Field names the request field at fault, for validation errors.
	Field string `json:"field,omitempty"`
	// Details carries structured extras such as row-level import errors.
	Details any `json:"details,omitempty"`
	// cause is kept for logs and errors.Is, never serialised.
	cause error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.cause }

// New returns an Error with the given code and message.
func New(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Newf is New with a formatted message.
func Newf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports a bad value in one request field.
func Invalid(field, msg string) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: msg}
}

// NotFound reports a missing resource; what names it in Chinese ("村民").
// Resources outside the caller's scope are reported the same way so their
// existence does not leak across villages.
func NotFound(what string) *Error {
	return &Error{Code: CodeNotFound, Message: what + "不存在"}
}

// Internal wraps an unexpected error. Its text is logged, never shown.
func Internal(cause error) *Error {
	return &Error{Code: CodeInternal, Message: "服务器内部错误，请稍后重试", cause: cause}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(d any) *Error {
	c := *e
	c.Details = d
	return &c
}

// WithCause returns a copy of e that wraps cause for logs.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// From turns any error into an *Error: domain errors pass through, anything
// else becomes CodeInternal.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// Is reports whether err is an *Error with the given code.
func Is(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
