package people

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/audit"
	"github.com/villagepoints/jifen/models/pii"
	"github.com/villagepoints/jifen/models/sqldb"
)

// Resident is a 村民 as stored: phone and ID number are sealed, with blind
// indexes for exact lookups. Never serialise it to a client; use View.
type Resident struct {
	ID          int64
	VillageID   int64
	HouseholdID *int64
	GridID      *int64
	Name        string
	Gender      string
	Relation    string
	Registered  bool // 户籍人口; false for 非户籍常住人员
	PartyMember bool
	PhoneEnc    string
	PhoneIdx    string
	IDNumberEnc string `gorm:"column:id_number_enc"`
	IDNumberIdx string `gorm:"column:id_number_idx"`
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Resident statuses.
const (
	StatusActive   = "active"
	StatusMovedOut = "moved_out"
	StatusDeceased = "deceased"
)

// ResidentView is a resident as staff see it: personal data masked.
type ResidentView struct {
	ID          int64     `json:"id"`
	VillageID   int64     `json:"village_id"`
	HouseholdID *int64    `json:"household_id,omitempty"`
	GridID      *int64    `json:"grid_id,omitempty"`
	Name        string    `json:"name"`
	Gender      string    `json:"gender"`
	Relation    string    `json:"relation"`
	Registered  bool      `json:"registered"`
	PartyMember bool      `json:"party_member"`
	Phone       string    `json:"phone"`
	IDNumber    string    `json:"id_number"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ResidentInput is what staff may set on a resident.
type ResidentInput struct {
	HouseholdID *int64
	GridID      *int64
	Name        string
	Gender      string
	Relation    string
	Registered  bool
	PartyMember bool
	Phone       string
	IDNumber    string
	Status      string
}

// Normalize trims and validates the input, reporting the first bad field.
func (in *ResidentInput) Normalize() error {
	in.Name = strings.TrimSpace(in.Name)
	in.Relation = strings.TrimSpace(in.Relation)
	if n := len([]rune(in.Name)); n == 0 || n > 32 {
		return apperr.Invalid("name", "姓名不能为空且不超过 32 个字")
	}
	switch in.Gender = strings.TrimSpace(in.Gender); in.Gender {
	case "", "男", "女":
	default:
		return apperr.Invalid("gender", "性别只能是“男”或“女”")
	}
	if len([]rune(in.Relation)) > 16 {
		return apperr.Invalid("relation", "与户主关系不超过 16 个字")
	}
	if in.Phone != "" {
		p, ok := pii.NormalizePhone(in.Phone)
		if !ok {
			return apperr.Invalid("phone", "手机号格式不正确，应为 11 位手机号")
		}
		in.Phone = p
	}
	if in.IDNumber != "" {
		id, ok := pii.NormalizeIDNumber(in.IDNumber)
		if !ok {
			return apperr.Invalid("id_number", "身份证号不正确（18 位，末位校验码需正确）")
		}
		in.IDNumber = id
	}
	switch in.Status {
	case "":
		in.Status = StatusActive
	case StatusActive, StatusMovedOut, StatusDeceased:
	default:
		return apperr.Invalid("status", "状态只能是 active、moved_out 或 deceased")
	}
	return nil
}

// View masks personal data for display.
func (s *Store) View(r Resident) ResidentView {
	v := ResidentView{
		ID: r.ID, VillageID: r.VillageID, HouseholdID: r.HouseholdID, GridID: r.GridID,
		Name: r.Name, Gender: r.Gender, Relation: r.Relation, Registered: r.Registered,
		PartyMember: r.PartyMember, Status: r.Status, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if p, err := s.vault.Open(r.PhoneEnc); err == nil {
		v.Phone = pii.MaskPhone(p)
	}
	if id, err := s.vault.Open(r.IDNumberEnc); err == nil {
		v.IDNumber = pii.MaskIDNumber(id)
	}
	return v
}

// CreateResident adds a resident to a village.
func (s *Store) CreateResident(ctx context.Context, who audit.Actor, villageID int64, in ResidentInput) (Resident, error) {
	if err := in.Normalize(); err != nil {
		return Resident{}, err
	}
	var r Resident
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		if r, err = s.createResident(ctx, tx, villageID, in); err != nil {
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: villageID, Action: "resident.create", TargetType: "resident", TargetID: r.ID, After: s.View(r)})
	})
	return r, err
}

func (s *Store) createResident(ctx context.Context, tx *gorm.DB, villageID int64, in ResidentInput) (Resident, error) {
	if err := s.checkRefs(tx, villageID, in); err != nil {
		return Resident{}, err
	}
	if err := s.uniqueIDNumber(tx, villageID, in.IDNumber, 0); err != nil {
		return Resident{}, err
	}
	now := time.Now().UTC()
	r := Resident{VillageID: villageID, CreatedAt: now, UpdatedAt: now}
	s.apply(&r, in)
	return r, tx.WithContext(ctx).Create(&r).Error
}

func (s *Store) apply(r *Resident, in ResidentInput) {
	r.HouseholdID, r.GridID, r.Name, r.Gender, r.Relation = in.HouseholdID, in.GridID, in.Name, in.Gender, in.Relation
	r.Registered, r.PartyMember, r.Status = in.Registered, in.PartyMember, in.Status
	r.PhoneEnc, r.PhoneIdx = s.vault.Seal(in.Phone), s.vault.Index(in.Phone)
	r.IDNumberEnc, r.IDNumberIdx = s.vault.Seal(in.IDNumber), s.vault.Index(in.IDNumber)
}

// checkRefs makes sure household and grid belong to the resident's village.
func (s *Store) checkRefs(tx *gorm.DB, villageID int64, in ResidentInput) error {
	if in.HouseholdID != nil {
		var n int64
		if err := tx.Model(&Household{}).Where("id = ? AND village_id = ?", *in.HouseholdID, villageID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return apperr.Invalid("household_id", "户不存在或不属于本村")
		}
	}
	return gridInVillage(tx, in.GridID, villageID)
}

// uniqueIDNumber refuses a second resident (of any status) with one ID
// number in a village; the blind index makes the check possible without
// decrypting. No unique index can enforce it (residents without an ID number
// share the empty index), so it locks the village first: otherwise two
// writers could both pass the check before either inserts.
func (s *Store) uniqueIDNumber(tx *gorm.DB, villageID int64, idNumber string, exceptID int64) error {
	if idNumber == "" {
		return nil
	}
	if _, err := lockVillage(tx, villageID); err != nil {
		return err
	}
	var n int64
	err := tx.Model(&Resident{}).Where("village_id = ? AND id_number_idx = ? AND id <> ?", villageID, s.vault.Index(idNumber), exceptID).Count(&n).Error
	if err != nil {
		return err
	}
	if n > 0 {
		return apperr.Invalid("id_number", "本村已有该身份证号的村民")
	}
	return nil
}

// Resident returns one resident.
func (s *Store) Resident(ctx context.Context, id int64) (Resident, error) {
	return byID[Resident](ctx, s.db, id)
}

// UpdateResident replaces the editable fields of a resident. Phone and ID
// number are kept when the input leaves them empty, since staff only ever
// see them masked and cannot send them back.
func (s *Store) UpdateResident(ctx context.Context, who audit.Actor, id int64, in ResidentInput) (Resident, error) {
	// An omitted status keeps the stored one: an edit must not quietly
	// bring a deceased or moved-out resident back.
	keepStatus := in.Status == ""
	if err := in.Normalize(); err != nil {
		return Resident{}, err
	}
	var r Resident
	err := sqldb.InTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := sqldb.ForUpdate(tx).First(&r, id).Error; err != nil {
			return notFound(err, "村民")
		}
		before := s.View(r)
		if err := s.checkRefs(tx, r.VillageID, in); err != nil {
			return err
		}
		if err := s.uniqueIDNumber(tx, r.VillageID, in.IDNumber, r.ID); err != nil {
			return err
		}
		phoneEnc, phoneIdx, idEnc, idIdx := r.PhoneEnc, r.PhoneIdx, r.IDNumberEnc, r.IDNumberIdx
		if keepStatus {
			in.Status = r.Status
		}
		s.apply(&r, in)
		if in.Phone == "" {
			r.PhoneEnc, r.PhoneIdx = phoneEnc, phoneIdx
		}
		if in.IDNumber == "" {
			r.IDNumberEnc, r.IDNumberIdx = idEnc, idIdx
		}
		r.UpdatedAt = time.Now().UTC()
		if err := tx.Save(&r).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, who, audit.Change{VillageID: r.VillageID, Action: "resident.update", TargetType: "resident", TargetID: r.ID, Before: before, After: s.View(r)})
	})
	return r, err
}

// ResidentFilter selects residents for ListResidents.
type ResidentFilter struct {
	VillageIDs  []int64
	HouseholdID int64
	GridID      int64
	PartyMember *bool
	Registered  *bool
	Status      string
	Name        string // substring of the name
	Phone       string // exact phone number, via the blind index
}

// ListResidents returns one page of residents ordered by id.
func (s *Store) ListResidents(ctx context.Context, f ResidentFilter, offset, limit int) ([]Resident, int64, error) {
	q := s.db.WithContext(ctx).Model(&Resident{}).Where("village_id IN ?", nonEmpty(f.VillageIDs))
	if f.HouseholdID != 0 {
		q = q.Where("household_id = ?", f.HouseholdID)
	}
	if f.GridID != 0 {
		q = q.Where("grid_id = ?", f.GridID)
	}
	if f.PartyMember != nil {
		q = q.Where("party_member = ?", *f.PartyMember)
	}
	if f.Registered != nil {
		q = q.Where("registered = ?", *f.Registered)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Name != "" {
		q = q.Where("name LIKE ? ESCAPE '!'", "%"+escapeLike(f.Name)+"%")
	}
	if f.Phone != "" {
		p, ok := pii.NormalizePhone(f.Phone)
		if !ok {
			// No stored phone is invalid, and the index of a phone that
			// normalises to "" would match every resident without one.
			return nil, 0, nil
		}
		q = q.Where("phone_idx = ?", s.vault.Index(p))
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []Resident
	err := q.Order("id").Offset(offset).Limit(limit).Find(&out).Error
	return out, total, err
}
