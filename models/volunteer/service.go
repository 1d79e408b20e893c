// Package volunteer runs volunteer activities 志愿活动: sign-up 报名 with a
// capacity and a waiting list, check-in and check-out 签到/签退 by scanning
// the activity's rotating code inside its geofence (or by staff, with a
// reason), and the organiser's confirmation of attendance, which turns
// service minutes 服务时长 into points through the ledger.
//
// Every write is one transaction. Capacity is a counter on the locked
// activity row, so concurrent sign-ups queue on it and never overfill it.
// A confirmed sign-up row and its posting commit together (the ledger runs
// inside the transaction), so the row is the posting's idempotency anchor.
package volunteer

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/ledger"
)

// Error codes raised by this package.
const (
	CodeSignupClosed     apperr.Code = "VOLUNTEER_SIGNUP_CLOSED"
	CodeCodeExpired      apperr.Code = "VOLUNTEER_CODE_EXPIRED"
	CodeCodeInvalid      apperr.Code = "VOLUNTEER_CODE_INVALID"
	CodeOutsideFence     apperr.Code = "VOLUNTEER_OUTSIDE_FENCE"
	CodeAlreadyCheckedIn apperr.Code = "VOLUNTEER_ALREADY_CHECKED_IN"
	CodeNotCheckedIn     apperr.Code = "VOLUNTEER_NOT_CHECKED_IN"
	CodeNotEnrolled      apperr.Code = "VOLUNTEER_NOT_ENROLLED"
	CodeNotRunning       apperr.Code = "VOLUNTEER_NOT_RUNNING"
	CodeLocationRequired apperr.Code = "VOLUNTEER_LOCATION_REQUIRED"
	CodeFull             apperr.Code = "VOLUNTEER_FULL"
	CodeNoRecord         apperr.Code = "VOLUNTEER_NO_RECORD"
)

// LedgerTx is the ledger's award bound to one transaction.
type LedgerTx interface {
	Award(ctx context.Context, r ledger.AwardRequest) (*ledger.Result, error)
}

// Ledger opens the ledger inside tx; the app wires it to ledger.Store.In.
type Ledger func(tx *gorm.DB) LedgerTx

// LedgerSettings reads whether a village keeps points per resident or per
// household.
type LedgerSettings interface {
	Settings(ctx context.Context, villageID int64) (ledger.Settings, error)
}

// Options configure a Service.
type Options struct {
	Ledger   Ledger
	Settings LedgerSettings
	// CodeKey signs the rotating check-in codes (at least 32 bytes).
	CodeKey []byte
	// CertificateKey signs the check code printed on certificates, so a
	// code cannot be made up for hours that are not on record.
	CertificateKey []byte
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the volunteer use cases.
type Service struct {
	db   *gorm.DB
	opts Options
}

// New returns a Service on db.
func New(db *gorm.DB, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: db, opts: opts}
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// Staff is the staff member acting, for records, postings and the audit
// log (RequestID and IP tie an entry to its request).
type Staff struct {
	ID        int64
	Name      string
	RequestID string
	IP        string
}

func (w Staff) audit() audit.Actor {
	return audit.Actor{StaffID: w.ID, Name: w.Name, RequestID: w.RequestID, IP: w.IP}
}

// record appends the audit entry of a staff write inside its transaction.
func record(ctx context.Context, tx *gorm.DB, who Staff, village int64, action, target string, id int64, before, after any) error {
	return dbErr(audit.Record(ctx, tx, who.audit(), audit.Change{VillageID: village, Action: action, TargetType: target, TargetID: id, Before: before, After: after}))
}

// Resident is the mini-program caller acting for themselves.
type Resident struct {
	ResidentID  int64
	HouseholdID int64
	VillageID   int64
	SessionID   int64
}
