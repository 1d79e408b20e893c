package console

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/villagepoints/jifen/apperr"
	"github.com/villagepoints/jifen/models/people"
	"github.com/villagepoints/jifen/models/staff"
	"github.com/villagepoints/jifen/web"
)

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

func (h *Handlers) rosterTemplate(c *gin.Context) error {
	b, err := people.RosterTemplate()
	if err != nil {
		return err
	}
	c.Header("Content-Disposition", `attachment; filename="roster-template.xlsx"`)
	c.Data(http.StatusOK, xlsxType, b)
	return nil
}

// importRoster takes a multipart upload in the field "file". Nothing is
// imported unless every row is valid; the error lists row-level problems.
func (h *Handlers) importRoster(c *gin.Context) error {
	village, err := villageParam(c, staff.ImportRoster)
	if err != nil {
		return err
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return apperr.Invalid("file", "请以 multipart/form-data 上传字段 file（.xlsx 花名册）")
	}
	if fh.Size > h.MaxUploadBytes {
		return apperr.New(apperr.CodeTooLarge, "文件过大")
	}
	f, err := fh.Open()
	if err != nil {
		return apperr.Invalid("file", "无法读取上传的文件")
	}
	defer f.Close()
	res, err := h.People.ImportRoster(c.Request.Context(), actor(c), village, f)
	if err != nil {
		return err
	}
	web.Created(c, res)
	return nil
}
