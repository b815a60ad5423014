package advisor

import (
	"strings"
	"testing"

	"github.com/pgadvisor/pgadvisor/collector"
)

func TestIndexName(t *testing.T) {
	for ddl, want := range map[string]string{
		"SET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS orders_tenant_id_idx ON public.orders USING btree (tenant_id);": "orders_tenant_id_idx",
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS "Odd ""name""_idx" ON public."Orders" USING btree ("Tenant");`:                            `"Odd ""name""_idx"`,
		"SET lock_timeout = '5s';\nCREATE INDEX IF NOT EXISTS m_device_id_1a2b3c4d_idx ON ONLY public.m USING btree (device_id);":          "m_device_id_1a2b3c4d_idx",
		"CREATE INDEX ON public.orders (tenant_id);": "",
		`CREATE INDEX IF NOT EXISTS "unterminated`:   "",
	} {
		r := Recommendation{DDL: ddl}
		if got := r.IndexName(); got != want {
			t.Errorf("IndexName of %q = %q, want %q", ddl, got, want)
		}
	}
	// With foreign partitions the partitions' indexes come first.
	script, err := IndexDDL(ddlCatalog(), btree("public.feeds", "account_id"))
	if err != nil {
		t.Fatal(err)
	}
	r := Recommendation{Table: "public.feeds", DDL: strings.Join(script.Statements, "\n")}
	if got := r.IndexName(); got != "feeds_account_id_idx" {
		t.Errorf("IndexName of %q = %q, want the parent's, feeds_account_id_idx", r.DDL, got)
	}
}

func TestBuiltBy(t *testing.T) {
	rec := Recommendation{
		Table: "public.orders", Method: "btree",
		Columns: []string{"tenant_id", "created_at DESC"}, Include: []string{"total"}, Where: "deleted_at IS NULL",
		DDL: "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_tenant_id_created_at_5e1f_idx ON public.orders USING btree (tenant_id, created_at DESC) INCLUDE (total) WHERE deleted_at IS NULL;",
	}
	same := collector.Index{
		Schema: "public", Name: "by_hand", Table: "public.orders", Method: "btree",
		Keys:      []collector.IndexKey{{Column: "tenant_id"}, {Column: "created_at", Desc: true, NullsFirst: true}},
		Include:   []string{"total"},
		Predicate: "(deleted_at IS NULL)",
	}
	tests := []struct {
		name string
		edit func(*collector.Index)
		want bool
	}{
		{"same definition, another name", func(*collector.Index) {}, true},
		{"the DDL's name, whatever its definition", func(ix *collector.Index) {
			ix.Name, ix.Keys = "orders_tenant_id_created_at_5e1f_idx", nil
		}, true},
		{"another table", func(ix *collector.Index) { ix.Table = "public.invoices" }, false},
		{"the DDL's name on another table", func(ix *collector.Index) {
			ix.Name, ix.Table = "orders_tenant_id_created_at_5e1f_idx", "public.invoices"
		}, false},
		{"ascending", func(ix *collector.Index) { ix.Keys[1].Desc, ix.Keys[1].NullsFirst = false, false }, false},
		{"keys swapped", func(ix *collector.Index) { ix.Keys[0], ix.Keys[1] = ix.Keys[1], ix.Keys[0] }, false},
		{"a prefix", func(ix *collector.Index) { ix.Keys = ix.Keys[:1] }, false},
		{"no INCLUDE", func(ix *collector.Index) { ix.Include = nil }, false},
		{"not partial", func(ix *collector.Index) { ix.Predicate = "" }, false},
		{"other predicate", func(ix *collector.Index) { ix.Predicate = "(deleted_at IS NOT NULL)" }, false},
		{"hash", func(ix *collector.Index) { ix.Method = "hash" }, false},
	}
	for _, tt := range tests {
		ix := same
		ix.Keys = append([]collector.IndexKey(nil), same.Keys...)
		tt.edit(&ix)
		if got := rec.BuiltBy(ix); got != tt.want {
			t.Errorf("%s: BuiltBy = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestUnparenthesize(t *testing.T) {
	for in, want := range map[string]string{
		"((a IS NULL))":           "a IS NULL",
		"(a) AND (b)":             "(a) AND (b)",
		" ( x = 1 ) ":             "x = 1",
		"":                        "",
		"(a = f(b)) OR (c)":       "(a = f(b)) OR (c)",
		"(status = 'open'::text)": "status = 'open'::text",
	} {
		if got := unparenthesize(in); got != want {
			t.Errorf("unparenthesize(%q) = %q, want %q", in, got, want)
		}
	}
}
