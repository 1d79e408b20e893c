package console

import (
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/awards"
	"github.com/villagepoints/jifen/models/catalog"
	"github.com/villagepoints/jifen/models/evidence"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/rules"
	"github.com/villagepoints/jifen/web"
)

// Awards holds the console's rule catalog, awards, review queue, appeals,
// public notices and evidence routes.
type Awards struct {
	*Handlers
	Catalog  *catalog.Store
	Awards   *awards.Service
	Evidence *evidence.Store
}

// Register mounts the routes on r (normally /api/v1), behind the console's
// staff authentication.
func (h *Awards) Register(r *gin.RouterGroup) {
	a := r.Group("", h.authenticate)
	a.GET("/villages/:village_id/rule-categories", require(staff.ReadCatalog), inVillage(staff.ReadCatalog, h.Catalog.Categories))
	a.PUT("/villages/:village_id/rule-categories", require(staff.ManageCatalog), web.Handle(h.setCategories))
	a.GET("/villages/:village_id/rule-items", require(staff.ReadCatalog), web.Handle(h.listItems))
	a.POST("/villages/:village_id/rule-items", require(staff.ManageCatalog), web.Handle(h.createItem))
	a.GET("/rule-items/:id", require(staff.ReadCatalog), web.Handle(h.getItem))
	a.PUT("/rule-items/:id", require(staff.ManageCatalog), web.Handle(h.updateItem))
	a.GET("/rule-items/:id/versions", require(staff.ReadCatalog), web.Handle(h.itemVersions))
	a.GET("/villages/:village_id/rule-templates", require(staff.ReadCatalog), web.Handle(h.listTemplates))
	a.POST("/villages/:village_id/rule-template-adoptions", require(staff.ManageCatalog), web.Handle(h.adoptTemplate))
	a.POST("/regions/:id/rule-templates", require(staff.PublishTemplates), web.Handle(h.publishTemplate))

	a.GET("/villages/:village_id/award-settings", require(staff.ReadAwards), inVillage(staff.ReadAwards, h.Awards.Settings))
	a.PUT("/villages/:village_id/award-settings", require(staff.DecideAppeals), web.Handle(h.saveAwardSettings))
	a.GET("/villages/:village_id/awards", require(staff.ReadAwards), web.Handle(h.listAwards))
	a.POST("/villages/:village_id/awards", require(staff.AwardPoints), web.Handle(h.createAward))
	a.POST("/villages/:village_id/award-batches", require(staff.AwardPoints), web.Handle(h.createBatch))
	a.GET("/awards/:id", require(staff.ReadAwards), web.Handle(h.getAward))
	a.POST("/awards/:id/confirmation", require(staff.AwardPoints), web.Handle(h.confirmAward))
	a.GET("/villages/:village_id/self-reports", require(staff.ReadAwards), web.Handle(h.listReports))
	a.GET("/villages/:village_id/self-report-counts", require(staff.ReadAwards), inVillage(staff.ReadAwards, h.Awards.Counts))
	a.POST("/self-reports/:id/review", require(staff.ReviewReports), web.Handle(h.reviewReport))
	a.GET("/villages/:village_id/appeals", require(staff.ReadAwards), web.Handle(h.listAppeals))
	a.POST("/appeals/:id/decision", require(staff.DecideAppeals), web.Handle(h.decideAppeal))
	a.GET("/villages/:village_id/award-notices/:period", require(staff.ReadAwards), web.Handle(h.notice))
	a.POST("/villages/:village_id/evidence", require(staff.AwardPoints), web.Handle(h.uploadEvidence))
	a.GET("/evidence/:id", require(staff.ReadAwards, staff.ReadDuty), web.Handle(h.getEvidence))
}

// villageScope is the caller's villages for perm as a predicate.
func villageScope(c *gin.Context, perm staff.Permission) func(int64) bool {
	p := principal(c)
	return func(v int64) bool { return p.Can(perm, v) }
}

// awardsStaff is the caller as the awards service sees them in village:
// the roles they hold there decide which items they may award.
func awardsStaff(c *gin.Context, village int64) awards.Staff {
	p := principal(c)
	var roles []string
	for _, r := range p.Roles() {
		for _, v := range p.VillagesFor(r) {
			if v == village {
				roles = append(roles, string(r))
				break
			}
		}
	}
	return awards.Staff{ID: p.StaffID, Name: p.Name, Roles: roles, RequestID: web.RequestID(c), IP: c.ClientIP()}
}

type categoriesRequest struct {
	Categories []string `json:"categories" binding:"required,min=1,max=50"`
}

func (h *Awards) setCategories(c *gin.Context) error {
	village, err := villageParam(c, staff.ManageCatalog)
	if err != nil {
		return err
	}
	var req categoriesRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	names, err := h.Catalog.SetCategories(c.Request.Context(), actor(c), village, req.Categories)
	if err != nil {
		return err
	}
	web.OK(c, names)
	return nil
}

type listItemsQuery struct {
	Category   string `form:"category" binding:"max=32"`
	SelfReport bool   `form:"self_report"`
}

func (h *Awards) listItems(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadCatalog)
	if err != nil {
		return err
	}
	var q listItemsQuery
	if err := web.BindQuery(c, &q); err != nil {
		return err
	}
	items, err := h.Catalog.Items(c.Request.Context(), village, catalog.ItemFilter{Category: q.Category, SelfReport: q.SelfReport})
	if err != nil {
		return err
	}
	web.OK(c, items)
	return nil
}

// itemRequest is a rule item definition.
type itemRequest struct {
	Code          string        `json:"code" binding:"max=32"`
	Category      string        `json:"category" binding:"required,max=32"`
	Title         string        `json:"title" binding:"required,max=100"`
	Description   string        `json:"description" binding:"max=500"`
	Points        int64         `json:"points" binding:"required"`
	Track         rules.Track   `json:"track" binding:"required"`
	Caps          []capRequest  `json:"caps" binding:"max=8,dive"`
	CooldownHours int           `json:"cooldown_hours"`
	MinPhotos     int           `json:"min_photos"`
	AwardRoles    []string      `json:"award_roles" binding:"max=4"`
	SelfReport    bool          `json:"self_report"`
	Veto          bool          `json:"veto"`
	VetoScope     rules.Subject `json:"veto_scope"`
	ValidFrom     *time.Time    `json:"valid_from"`
	ValidUntil    *time.Time    `json:"valid_until"`
}

type capRequest struct {
	Subject   rules.Subject `json:"subject" binding:"required"`
	Period    rules.Period  `json:"period" binding:"required"`
	MaxTimes  int           `json:"max_times"`
	MaxPoints int64         `json:"max_points"`
}

func (r itemRequest) input() catalog.ItemInput {
	in := catalog.ItemInput{Code: r.Code, Category: r.Category, Title: r.Title, Description: r.Description, Points: r.Points,
		Track: r.Track, CooldownHours: r.CooldownHours, MinPhotos: r.MinPhotos, AwardRoles: r.AwardRoles, SelfReport: r.SelfReport,
		Veto: r.Veto, VetoScope: r.VetoScope, ValidFrom: r.ValidFrom, ValidUntil: r.ValidUntil}
	for _, cp := range r.Caps {
		in.Caps = append(in.Caps, rules.Cap{Subject: cp.Subject, Period: cp.Period, MaxTimes: cp.MaxTimes, MaxPoints: cp.MaxPoints})
	}
	return in
}

func (h *Awards) createItem(c *gin.Context) error {
	village, err := villageParam(c, staff.ManageCatalog)
	if err != nil {
		return err
	}
	var req itemRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	it, err := h.Catalog.CreateItem(c.Request.Context(), actor(c), village, req.input())
	if err != nil {
		return err
	}
	web.Created(c, it)
	return nil
}

// item reads an item version the caller may see with perm.
func (h *Awards) item(c *gin.Context, perm staff.Permission) (catalog.Item, error) {
	id, err := web.PathID(c, "id")
	if err != nil {
		return catalog.Item{}, err
	}
	it, err := h.Catalog.Item(c.Request.Context(), id)
	if err != nil {
		return catalog.Item{}, err
	}
	return it, inScope(c, perm, it.VillageID, "积分细则条目")
}

func (h *Awards) getItem(c *gin.Context) error {
	it, err := h.item(c, staff.ReadCatalog)
	if err != nil {
		return err
	}
	web.OK(c, it)
	return nil
}

func (h *Awards) updateItem(c *gin.Context) error {
	it, err := h.item(c, staff.ManageCatalog)
	if err != nil {
		return err
	}
	var req itemRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.Catalog.UpdateItem(c.Request.Context(), actor(c), villageScope(c, staff.ManageCatalog), it.ID, req.input())
	if err != nil {
		return err
	}
	web.OK(c, out)
	return nil
}

func (h *Awards) itemVersions(c *gin.Context) error {
	it, err := h.item(c, staff.ReadCatalog)
	if err != nil {
		return err
	}
	vs, err := h.Catalog.Versions(c.Request.Context(), it.ID)
	if err != nil {
		return err
	}
	web.OK(c, vs)
	return nil
}

// templateRegions are the regions whose templates a village may adopt:
// its township and county (the ancestors on its path).
func (h *Awards) templateRegions(c *gin.Context, village int64) ([]int64, error) {
	v, err := h.People.Region(c.Request.Context(), village)
	if err != nil {
		return nil, err
	}
	var out []int64
	for p := range strings.SplitSeq(strings.Trim(v.Path, "/"), "/") {
		if id, err := strconv.ParseInt(p, 10, 64); err == nil && id != village {
			out = append(out, id)
		}
	}
	return out, nil
}

func (h *Awards) listTemplates(c *gin.Context) error {
	village, err := villageParam(c, staff.ReadCatalog)
	if err != nil {
		return err
	}
	regions, err := h.templateRegions(c, village)
	if err != nil {
		return err
	}
	ts, err := h.Catalog.Templates(c.Request.Context(), regions)
	if err != nil {
		return err
	}
	web.OK(c, ts)
	return nil
}

type adoptRequest struct {
	TemplateID *int64 `json:"template_id" binding:"required,gte=0"`
}

func (h *Awards) adoptTemplate(c *gin.Context) error {
	village, err := villageParam(c, staff.ManageCatalog)
	if err != nil {
		return err
	}
	var req adoptRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	regions, err := h.templateRegions(c, village)
	if err != nil {
		return err
	}
	out, err := h.Catalog.Adopt(c.Request.Context(), actor(c), village, *req.TemplateID, regions)
	if err != nil {
		return err
	}
	web.Created(c, out)
	return nil
}

type publishTemplateRequest struct {
	Name  string        `json:"name" binding:"required,max=100"`
	Items []itemRequest `json:"items" binding:"required,min=1,max=300,dive"`
}

func (h *Awards) publishTemplate(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	region, err := h.People.Region(c.Request.Context(), id)
	if err != nil {
		return err
	}
	if !principal(c).Covers(staff.PublishTemplates, region) {
		return apperr.New(apperr.CodeOutOfScope, "该地区不在您的管理范围内")
	}
	if region.Level != people.Township && region.Level != people.County {
		return apperr.Invalid("id", "模板只能发布在乡镇或县")
	}
	var req publishTemplateRequest
	if err := web.BindJSON(c, &req); err != nil {
		return err
	}
	items := make([]catalog.ItemInput, len(req.Items))
	for i, it := range req.Items {
		items[i] = it.input()
	}
	t, err := h.Catalog.Publish(c.Request.Context(), actor(c), region.ID, req.Name, items)
	if err != nil {
		return err
	}
	web.Created(c, t)
	return nil
}

func (h *Awards) uploadEvidence(c *gin.Context) error {
	village, err := villageParam(c, staff.AwardPoints)
	if err != nil {
		return err
	}
	data, err := readPhoto(c)
	if err != nil {
		return err
	}
	f, err := h.Evidence.Upload(c.Request.Context(), village, "staff:"+strconv.FormatInt(principal(c).StaffID, 10), data)
	if err != nil {
		return err
	}
	web.Created(c, f)
	return nil
}

// getEvidence serves a photo to staff who read awards in its village, or
// who read duty reports there when a duty report shows it.
func (h *Awards) getEvidence(c *gin.Context) error {
	id, err := web.PathID(c, "id")
	if err != nil {
		return err
	}
	f, rc, err := h.Evidence.OpenForStaff(c.Request.Context(), id,
		evidence.StaffScope{All: villageScope(c, staff.ReadAwards), Duty: villageScope(c, staff.ReadDuty)})
	if err != nil {
		return err
	}
	defer rc.Close()
	c.Header("Cache-Control", "private, max-age=3600")
	c.DataFromReader(200, f.SizeBytes, f.ContentType, rc, nil)
	return nil
}

// readPhoto reads the "file" field of an evidence upload.
func readPhoto(c *gin.Context) ([]byte, error) { return web.ReadUpload(c, "file", evidence.MaxBytes) }
