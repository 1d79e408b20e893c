// Package staff owns staff accounts (社工, 村两委, 积分超市店员, 监督委员, 乡镇/县管理员):
// their roles and the villages each role covers, password login with
// lockout and rate limits, access and refresh tokens, and the one
// permission table every route consults.
package staff

import (
	"slices"

	"github.com/villagepoints/jifen/models/people"
)

// Role is a staff role. A role is granted on one region.
type Role string

// The roles.
const (
	SocialWorker  Role = "social_worker"
	VillageAdmin  Role = "village_admin"
	StoreClerk    Role = "store_clerk"
	Supervisor    Role = "supervisor"
	TownshipAdmin Role = "township_admin"
	CountyAdmin   Role = "county_admin"
)

// AllRoles lists every role.
var AllRoles = []Role{SocialWorker, VillageAdmin, StoreClerk, Supervisor, TownshipAdmin, CountyAdmin}

// roleLevel is the level of the region each role is granted on.
var roleLevel = map[Role]people.Level{
	SocialWorker: people.Village, VillageAdmin: people.Village, StoreClerk: people.Village,
	Supervisor: people.Village, TownshipAdmin: people.Township, CountyAdmin: people.County,
}

// Permission is one kind of action a route performs.
type Permission string

// The permissions. Later features add theirs here, so the whole access
// policy stays readable in one table.
const (
	ReadPeople    Permission = "people.read"
	WritePeople   Permission = "people.write"
	ImportRoster  Permission = "people.import"
	ReadRegions   Permission = "regions.read"
	ManageGrids   Permission = "regions.grids"
	ManageRegions Permission = "regions.manage"
	ReadAudit     Permission = "audit.read"
	ReadStaff     Permission = "staff.read"
	ManageStaff   Permission = "staff.manage"
	ReadLedger    Permission = "ledger.read"
	AdjustLedger  Permission = "ledger.adjust"
	// BindResidents covers WeChat bindings: invite codes, confirming phone
	// matches, unbind/rebind, household cards.
	BindResidents Permission = "wechat.bind"
	// ScanCodes resolves a scanned personal code or household card.
	ScanCodes Permission = "codes.scan"
	// IssueCodes makes mini-program codes for places and activities.
	IssueCodes Permission = "codes.issue"
)

// policy says which permissions each role holds inside the regions it
// covers. Supervisors read everything and write nothing.
var policy = map[Role][]Permission{
	SocialWorker:  {ReadPeople, WritePeople, ReadRegions, ReadLedger, BindResidents, ScanCodes, IssueCodes},
	VillageAdmin:  {ReadPeople, WritePeople, ImportRoster, ReadRegions, ManageGrids, ReadStaff, ManageStaff, ReadLedger, AdjustLedger, BindResidents, ScanCodes, IssueCodes},
	StoreClerk:    {ReadRegions, ScanCodes},
	Supervisor:    {ReadPeople, ReadRegions, ReadAudit, ReadStaff, ReadLedger},
	TownshipAdmin: {ReadPeople, ReadRegions, ManageRegions, ManageGrids, ReadAudit, ReadStaff, ManageStaff, ReadLedger},
	CountyAdmin:   {ReadPeople, ReadRegions, ManageRegions, ManageGrids, ReadAudit, ReadStaff, ManageStaff, ReadLedger},
}

// RoleHas reports whether role holds perm.
func RoleHas(role Role, perm Permission) bool { return slices.Contains(policy[role], perm) }

// grantable says which roles a holder of each role may grant, inside the
// regions it covers. Supervisors are appointed from above the village so
// the committee they watch cannot choose them.
var grantable = map[Role][]Role{
	VillageAdmin:  {SocialWorker, StoreClerk},
	TownshipAdmin: {SocialWorker, StoreClerk, VillageAdmin, Supervisor},
	CountyAdmin:   {SocialWorker, StoreClerk, VillageAdmin, Supervisor, TownshipAdmin, CountyAdmin},
}

// MayGrant reports whether a holder of granter may grant role.
func MayGrant(granter, role Role) bool { return slices.Contains(grantable[granter], role) }

// Valid reports whether r is a known role.
func (r Role) Valid() bool { _, ok := roleLevel[r]; return ok }

// Level is the region level r is granted on.
func (r Role) Level() people.Level { return roleLevel[r] }
