package staff

import (
	"slices"
	"sort"

	"github.com/villagepoints/jifen/models/people"
)

// Grant is one role on one region.
type Grant struct {
	Role     Role  `json:"role"`
	RegionID int64 `json:"region_id"`
}

// Principal is an authenticated staff member with the villages each of
// their roles covers, resolved once per request.
type Principal struct {
	StaffID     int64
	Username    string
	Name        string
	SessionID   int64
	HouseholdID *int64 // the staff member's own household, for conflict-of-interest checks
	Grants      []Grant
	// villages maps each role to the villages it covers.
	villages map[Role][]int64
	// regions maps each role to the regions it was granted on.
	regions map[Role][]int64
}

// NewPrincipal builds a principal; villages gives, per grant, the villages
// under the granted region.
func NewPrincipal(id int64, username, name string, grants []Grant, villagesOf func(Grant) []int64) Principal {
	p := Principal{StaffID: id, Username: username, Name: name, Grants: grants,
		villages: map[Role][]int64{}, regions: map[Role][]int64{}}
	for _, g := range grants {
		p.villages[g.Role] = union(p.villages[g.Role], villagesOf(g))
		p.regions[g.Role] = union(p.regions[g.Role], []int64{g.RegionID})
	}
	return p
}

// Can reports whether the principal holds perm in village.
func (p Principal) Can(perm Permission, village int64) bool {
	for role, vs := range p.villages {
		if RoleHas(role, perm) && slices.Contains(vs, village) {
			return true
		}
	}
	return false
}

// Villages lists the villages in which the principal holds perm.
func (p Principal) Villages(perm Permission) []int64 {
	var out []int64
	for role, vs := range p.villages {
		if RoleHas(role, perm) {
			out = union(out, vs)
		}
	}
	return out
}

// HasAny reports whether the principal holds perm anywhere.
func (p Principal) HasAny(perm Permission) bool {
	return len(p.Villages(perm)) > 0 || p.holdsOnEmptyRegion(perm)
}

// holdsOnEmptyRegion covers an admin of a township or county that has no
// villages yet: they must still be able to create them.
func (p Principal) holdsOnEmptyRegion(perm Permission) bool {
	for role, rs := range p.regions {
		if RoleHas(role, perm) && len(rs) > 0 {
			return true
		}
	}
	return false
}

// Roles lists the principal's roles.
func (p Principal) Roles() []Role {
	var out []Role
	for r := range p.regions {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// RegionsFor lists the regions on which the principal holds role.
func (p Principal) RegionsFor(role Role) []int64 { return p.regions[role] }

// VillagesFor lists the villages the principal's role covers.
func (p Principal) VillagesFor(role Role) []int64 { return p.villages[role] }

func union(a, b []int64) []int64 {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Covers reports whether the principal holds perm through a role granted
// on region or on a region above it.
func (p Principal) Covers(perm Permission, region people.Region) bool {
	for role, rs := range p.regions {
		if !RoleHas(role, perm) {
			continue
		}
		for _, r := range rs {
			if region.Within(r) {
				return true
			}
		}
	}
	return false
}

// RegionsWith lists the regions granted to roles that hold perm.
func (p Principal) RegionsWith(perm Permission) []int64 {
	var out []int64
	for role, rs := range p.regions {
		if RoleHas(role, perm) {
			out = union(out, rs)
		}
	}
	return out
}
