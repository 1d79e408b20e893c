package evidence

import (
	"context"
	"fmt"
	"io"
	"strconv"
)

// StaffScope says where a staff member may open photos, by village.
type StaffScope struct {
	// All are the villages where they may open every photo (they read
	// awards, self-reports and their evidence).
	All func(village int64) bool
	// Duty are the villages where they read duty reports 履职纪实, and so
	// the photos a duty report of that village shows, and no others.
	Duty func(village int64) bool
}

// OpenForStaff returns a photo and its bytes when scope allows it; a photo
// outside it reads as not found, so its existence does not leak.
func (s *Store) OpenForStaff(ctx context.Context, id int64, scope StaffScope) (File, io.ReadCloser, error) {
	f, err := s.find(ctx, id)
	if err != nil {
		return File{}, nil, err
	}
	ok := scope.All != nil && scope.All(f.VillageID)
	if !ok && scope.Duty != nil && scope.Duty(f.VillageID) {
		if ok, err = s.inDutyReport(ctx, f); err != nil {
			return File{}, nil, err
		}
	}
	if !ok {
		return File{}, nil, ErrNotFound
	}
	return s.read(ctx, f)
}

// OpenForResident returns a photo and its bytes for a villager of village:
// one they uploaded, or one UsedBy them. Any other photo, a neighbour's
// included, reads as not found.
func (s *Store) OpenForResident(ctx context.Context, id, resident, village int64) (File, io.ReadCloser, error) {
	f, err := s.find(ctx, id)
	if err != nil {
		return File{}, nil, err
	}
	ok := f.VillageID == village && f.Uploader == "resident:"+strconv.FormatInt(resident, 10)
	if !ok && f.VillageID == village {
		if ok, err = s.UsedBy(ctx, id, resident); err != nil {
			return File{}, nil, err
		}
	}
	if !ok {
		return File{}, nil, ErrNotFound
	}
	return s.read(ctx, f)
}

// listed matches a column holding a list of ids that contains id: a bare
// list ("3,14,15", awards and self-reports) when open and close are empty,
// a JSON array ("[3,14,15]", duty reports) when they are brackets.
func listed(column, open, close string, id int64) (string, []any) {
	n := strconv.FormatInt(id, 10)
	return fmt.Sprintf("(%[1]s LIKE ? OR %[1]s LIKE ? OR %[1]s LIKE ? OR %[1]s LIKE ?)", column),
		[]any{open + n + close, open + n + ",%", "%," + n + close, "%," + n + ",%"}
}

// UsedBy reports whether resident's own awards, self-reports or duty
// reports use the photo, so a villager may see the evidence of decisions
// about them and of the reports they filed.
func (s *Store) UsedBy(ctx context.Context, id, resident int64) (bool, error) {
	for _, t := range []struct{ table, open, close string }{{"awards", "", ""}, {"self_reports", "", ""}, {"duty_reports", "[", "]"}} {
		cond, args := listed("photos", t.open, t.close, id)
		var c int64
		if err := s.db.WithContext(ctx).Table(t.table).Where("resident_id = ?", resident).Where(cond, args...).Count(&c).Error; err != nil {
			return false, fmt.Errorf("evidence: used by: %w", err)
		}
		if c > 0 {
			return true, nil
		}
	}
	return false, nil
}

// inDutyReport reports whether a duty report of the photo's own village
// shows it.
func (s *Store) inDutyReport(ctx context.Context, f File) (bool, error) {
	cond, args := listed("photos", "[", "]", f.ID)
	var c int64
	if err := s.db.WithContext(ctx).Table("duty_reports").Where("village_id = ?", f.VillageID).Where(cond, args...).Count(&c).Error; err != nil {
		return false, fmt.Errorf("evidence: duty reports: %w", err)
	}
	return c > 0, nil
}
