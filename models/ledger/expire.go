package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/models/sqldb"
)

// ExpiryReport says what ExpirePoints did.
type ExpiryReport struct {
	Accounts int   // accounts that lost points
	Points   int64 // points expired in total
}

// ExpirePoints posts the expiry 积分过期 of every lot that has lapsed by now
// under the village's policy, oldest points first, one transaction per
// account. Running it again, or on two replicas, expires nothing twice: each
// run recomputes what is due under the account's row lock.
func (s *Store) ExpirePoints(ctx context.Context, villageID int64, now time.Time) (ExpiryReport, error) {
	var rep ExpiryReport
	db := s.db.WithContext(ctx)
	st, err := loadSettings(db, villageID)
	if err != nil || st.Expiry.Policy == ExpiryNone {
		return rep, err
	}
	var rows []accountRow
	if err := db.Raw("SELECT * FROM ledger_accounts WHERE village_id = ? AND kind IN ? AND balance > 0 ORDER BY kind, owner_id, track",
		villageID, []AccountKind{KindResident, KindHousehold}).Scan(&rows).Error; err != nil {
		return rep, fmt.Errorf("ledger: list accounts to expire: %w", err)
	}
	for _, row := range rows {
		k := row.key()
		h, _ := k.Kind.holder(k.Owner)
		// A first look without the lock names the run in its idempotency
		// key; the transaction looks again under the lock.
		moves, err := accountMovements(db, villageID, k)
		if err != nil {
			return rep, err
		}
		due, latest := dueAmount(remainingLots(moves, st.Expiry, s.loc), now)
		if due <= 0 {
			continue
		}
		res, err := s.run(ctx, operation{
			village: villageID, actor: SystemActor,
			key:  fmt.Sprintf("expiry:%s:%d", k, latest.Unix()),
			hash: requestHash("expire_points", k, latest.Unix()),
			plan: func(tx *gorm.DB, st Settings, txNow time.Time) (*plan, error) {
				var bal []int64
				q := tx.Table("ledger_accounts").Select("balance").
					Where("village_id = ? AND kind = ? AND owner_id = ? AND track = ?", villageID, k.Kind, k.Owner, k.Track)
				if err := sqldb.ForUpdate(q).Scan(&bal).Error; err != nil {
					return nil, err
				}
				moves, err := accountMovements(tx, villageID, k)
				if err != nil {
					return nil, err
				}
				due, _ := dueAmount(remainingLots(moves, st.Expiry, s.loc), now)
				if len(bal) == 1 {
					due = min(due, bal[0])
				}
				if due <= 0 {
					return nil, errNothing
				}
				return &plan{postings: []Posting{{
					Type: TypeExpiry, Track: k.Track,
					FromKind: h.main(), FromOwner: h.ID, ToKind: KindExpired,
					Amount: due, Reason: "积分到期（" + latest.In(s.loc).AddDate(0, 0, -1).Format("2006-01-02") + " 止）",
				}}}, nil
			},
		})
		switch {
		case errors.Is(err, errNothing):
		case err != nil:
			return rep, err
		case !res.Replayed:
			rep.Accounts++
			rep.Points += res.Postings[0].Amount
		}
	}
	return rep, nil
}

// accountMovements lists what happened to one holder account, oldest first.
func accountMovements(db *gorm.DB, villageID int64, k AccountKey) ([]movement, error) {
	h, _ := k.Kind.holder(k.Owner)
	ps, err := holderPostings(db, villageID, h, 0, 0)
	if err != nil {
		return nil, err
	}
	byTrack := movementsByTrack(ps, k.Kind, k.Owner)
	return byTrack[k.Track], nil
}

// movementsByTrack turns a holder's postings into movements of its account
// of kind kind, per track, oldest first.
func movementsByTrack(ps []Posting, kind AccountKind, owner int64) map[Track][]movement {
	sort.Slice(ps, func(i, j int) bool {
		if !ps[i].CreatedAt.Equal(ps[j].CreatedAt) {
			return ps[i].CreatedAt.Before(ps[j].CreatedAt)
		}
		return ps[i].ID < ps[j].ID
	})
	out := map[Track][]movement{}
	for _, p := range ps {
		switch {
		case p.ToKind == kind && p.ToOwner == owner:
			out[p.Track] = append(out[p.Track], movement{At: p.CreatedAt, Amount: p.Amount, Earned: p.Type.earning()})
		case p.FromKind == kind && p.FromOwner == owner:
			out[p.Track] = append(out[p.Track], movement{At: p.CreatedAt, Amount: -p.Amount})
		}
	}
	return out
}
