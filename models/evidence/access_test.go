package evidence

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/sqldb/sqltest"
)

func mustUpload(t *testing.T, s *Store, village int64, uploader string) int64 {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4)), nil); err != nil {
		t.Fatal(err)
	}
	f, err := s.Upload(context.Background(), village, uploader, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f.ID
}

// mustDutyReport stores a duty report as models/duty does: photos as a
// JSON array.
func mustDutyReport(t *testing.T, db *gorm.DB, village, resident int64, photos string) {
	t.Helper()
	if err := db.Exec("INSERT INTO duty_reports (village_id, resident_id, post_id, report_date, content, photos, created_at) VALUES (?, ?, 1, '2026-05-01', '巡河', ?, ?)",
		village, resident, photos, time.Now().UTC()).Error; err != nil {
		t.Fatal(err)
	}
}

// TestDutyReportPhotoAccess: a photo shown in a duty report opens for
// staff who read duty reports in its village and for the member who filed
// the report; staff of another village, a neighbour, and a report of
// another village naming the photo open nothing.
func TestDutyReportPhotoAccess(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := New(db, Disk{Dir: t.TempDir()})
		reported := mustUpload(t, s, 7, "resident:1")   // in resident 1's report
		unreported := mustUpload(t, s, 7, "resident:1") // in no report
		handedIn := mustUpload(t, s, 7, "staff:3")      // in resident 2's report, taken by staff
		borrowed := mustUpload(t, s, 7, "resident:1")   // named only by a report of village 8
		theirs := mustUpload(t, s, 8, "resident:9")     // village 8's own report
		mustDutyReport(t, db, 7, 1, fmt.Sprintf("[%d,%d]", unreported+100, reported))
		mustDutyReport(t, db, 7, 2, fmt.Sprintf("[%d]", handedIn))
		mustDutyReport(t, db, 7, 3, fmt.Sprintf("[%d1,9%d]", reported, reported)) // look-alike ids
		mustDutyReport(t, db, 8, 9, fmt.Sprintf("[%d,%d]", theirs, borrowed))

		in := func(villages ...int64) func(int64) bool {
			return func(v int64) bool {
				for _, x := range villages {
					if x == v {
						return true
					}
				}
				return false
			}
		}
		staffCases := []struct {
			name  string
			scope StaffScope
			photo int64
			open  bool
		}{
			{"duty reader of the village, reported photo", StaffScope{Duty: in(7)}, reported, true},
			{"duty reader of the village, photo in no report", StaffScope{Duty: in(7)}, unreported, false},
			{"duty reader of another village", StaffScope{Duty: in(8)}, reported, false},
			{"duty reader of the village naming another's photo", StaffScope{Duty: in(8)}, borrowed, false},
			{"duty reader of the photo's village, named only elsewhere", StaffScope{Duty: in(7)}, borrowed, false},
			{"duty reader of village 8, its own report", StaffScope{Duty: in(8)}, theirs, true},
			{"awards reader of the village, any photo", StaffScope{All: in(7)}, unreported, true},
			{"awards reader of another village", StaffScope{All: in(8), Duty: in(8)}, reported, false},
			{"no scope", StaffScope{}, reported, false},
		}
		for _, c := range staffCases {
			f, rc, err := s.OpenForStaff(ctx, c.photo, c.scope)
			wantOpened(t, c.name, c.photo, c.open, f, rc, err)
		}

		residentCases := []struct {
			name              string
			resident, village int64
			photo             int64
			open              bool
		}{
			{"the member who filed it", 1, 7, reported, true},
			{"the uploader, in no report", 1, 7, unreported, true},
			{"the member who filed a photo staff took", 2, 7, handedIn, true},
			{"a neighbour who did not file it", 2, 7, reported, false},
			{"a member whose report names look-alike ids", 3, 7, reported, false},
			{"the filer, signed in to another village", 1, 8, reported, false},
			{"a member of the village whose report names another village's photo", 9, 8, borrowed, false},
		}
		for _, c := range residentCases {
			f, rc, err := s.OpenForResident(ctx, c.photo, c.resident, c.village)
			wantOpened(t, c.name, c.photo, c.open, f, rc, err)
		}
		if _, _, err := s.OpenForStaff(ctx, theirs+1000, StaffScope{All: in(7, 8)}); !apperr.Is(err, apperr.CodeNotFound) {
			t.Errorf("a missing photo: %v", err)
		}
	})
}

// wantOpened checks that photo opened when open, and is not found otherwise.
func wantOpened(t *testing.T, name string, photo int64, open bool, f File, rc io.ReadCloser, err error) {
	t.Helper()
	if !open {
		if !apperr.Is(err, apperr.CodeNotFound) {
			t.Errorf("%s: got %v, want not found", name, err)
		}
		return
	}
	if err != nil || f.ID != photo {
		t.Errorf("%s: %v", name, err)
		return
	}
	rc.Close()
}
