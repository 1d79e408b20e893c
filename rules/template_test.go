package rules

import "testing"

func TestDefaultTemplate(t *testing.T) {
	tpl, err := DefaultTemplate()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tpl.Items); n < 35 || n > 50 {
		t.Fatalf("default template has %d items, want about 40", n)
	}
	codes := map[string]bool{}
	categories := map[string]int{}
	var awards, deductions, vetoes, selfReport int
	tracks := map[Track]int{}
	for _, it := range tpl.Items {
		if codes[it.Code] {
			t.Errorf("duplicate code %s", it.Code)
		}
		codes[it.Code] = true
		categories[it.Category]++
		tracks[it.Track]++
		switch {
		case it.Deduction():
			deductions++
		default:
			awards++
		}
		if it.Veto {
			vetoes++
			if !it.Deduction() {
				t.Errorf("%s vetoes but awards points", it.Code)
			}
		}
		if it.SelfReport {
			selfReport++
		}
	}
	if len(categories) < 8 || awards == 0 || deductions == 0 || vetoes == 0 || selfReport == 0 || len(tracks) != 3 {
		t.Fatalf("template lacks variety: %d categories, %d awards, %d deductions, %d vetoes, %d self-report, tracks %v",
			len(categories), awards, deductions, vetoes, selfReport, tracks)
	}
}
