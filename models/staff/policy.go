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
	// ReadCatalog reads the rule catalog 积分细则 and templates.
	ReadCatalog Permission = "catalog.read"
	// ManageCatalog edits a village's categories and items, adopts templates.
	ManageCatalog Permission = "catalog.manage"
	// PublishTemplates publishes rule templates for the villages below.
	PublishTemplates Permission = "catalog.publish"
	// AwardPoints awards and deducts by rule, confirms others' deductions,
	// uploads evidence.
	AwardPoints Permission = "awards.give"
	// ReadAwards reads awards, the review queue, appeals and notices.
	ReadAwards Permission = "awards.read"
	// ReviewReports decides residents' self-reports.
	ReviewReports Permission = "awards.review"
	// DecideAppeals rules on appeals and objections; sets award settings.
	DecideAppeals Permission = "awards.appeals"
	// ReadRanking reads leaderboards, monthly rankings, their objections
	// and exports, and participation rates.
	ReadRanking Permission = "ranking.read"
	// PublishRanking freezes, publishes and finalises monthly rankings,
	// resolves objections and sets the village's ranking settings.
	PublishRanking Permission = "ranking.publish"
	// RebuildRanking rebuilds leaderboards from the ledger.
	RebuildRanking Permission = "ranking.rebuild"
	// ReadStore reads the points store 积分超市: rewards, stock, orders,
	// low-stock alerts, reports and merchant statements.
	ReadStore Permission = "store.read"
	// ManageStore edits rewards, merchants, store settings and budgets, and
	// cancels or refunds orders.
	ManageStore Permission = "store.manage"
	// ManageStock restocks and writes off rewards.
	ManageStock Permission = "store.stock"
	// VerifyRedemption hands orders over at the counter 核销 and redeems on
	// the spot for a villager who is there.
	VerifyRedemption Permission = "store.verify"
	// ReadVolunteer reads volunteer activities, sign-ups, attendance and
	// residents' volunteer records.
	ReadVolunteer Permission = "volunteer.read"
	// ManageVolunteer creates and cancels activities, shows their check-in
	// code, checks residents in/out by hand and confirms attendance.
	ManageVolunteer Permission = "volunteer.manage"
	// ReadDuty reads duty posts, claims, duty reports, assessments and
	// their exports.
	ReadDuty Permission = "duty.read"
	// ManageDuty is the party branch's work: posts and settings, approving
	// claims, scoring and advancing assessments, resolving objections.
	ManageDuty Permission = "duty.manage"
)

// policy says which permissions each role holds inside the regions it
// covers. Supervisors read everything and write nothing.
var policy = map[Role][]Permission{
	SocialWorker:  {ReadPeople, WritePeople, ReadRegions, ReadLedger, BindResidents, ScanCodes, IssueCodes, ReadRanking, ReadCatalog, AwardPoints, ReadAwards, ReviewReports, ReadVolunteer, ManageVolunteer, ReadDuty},
	VillageAdmin:  {ReadPeople, WritePeople, ImportRoster, ReadRegions, ManageGrids, ReadStaff, ManageStaff, ReadLedger, AdjustLedger, BindResidents, ScanCodes, IssueCodes, ReadRanking, PublishRanking, RebuildRanking, ReadCatalog, ManageCatalog, AwardPoints, ReadAwards, ReviewReports, DecideAppeals, ReadStore, ManageStore, ManageStock, VerifyRedemption, ReadVolunteer, ManageVolunteer, ReadDuty, ManageDuty},
	StoreClerk:    {ReadRegions, ScanCodes, ReadStore, ManageStock, VerifyRedemption},
	Supervisor:    {ReadPeople, ReadRegions, ReadAudit, ReadStaff, ReadLedger, ReadRanking, ReadCatalog, ReadAwards, ReadStore, ReadVolunteer, ReadDuty},
	TownshipAdmin: {ReadPeople, ReadRegions, ManageRegions, ManageGrids, ReadAudit, ReadStaff, ManageStaff, ReadLedger, ReadRanking, RebuildRanking, ReadCatalog, PublishTemplates, ReadAwards, ReadStore, ManageStore, ManageStock, ReadVolunteer, ReadDuty},
	CountyAdmin:   {ReadPeople, ReadRegions, ManageRegions, ManageGrids, ReadAudit, ReadStaff, ManageStaff, ReadLedger, ReadRanking, RebuildRanking, ReadCatalog, PublishTemplates, ReadAwards, ReadStore, ReadVolunteer, ReadDuty},
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
