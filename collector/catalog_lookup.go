package collector

// Table returns the table schema.name (unquoted names, as in the catalog).
func (c *Catalog) Table(schema, name string) (*Table, bool) {
	for i := range c.Tables {
		if t := &c.Tables[i]; t.Schema == schema && t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// FindTable resolves an unqualified table name (as the parser gives it,
// already case-folded) through searchPath, first schema first. Entries
// naming no schema of the catalog, such as "$user", match nothing.
func (c *Catalog) FindTable(name string, searchPath []string) (*Table, bool) {
	for _, schema := range searchPath {
		if t, ok := c.Table(schema, name); ok {
			return t, true
		}
	}
	return nil, false
}

// IndexesOn returns the indexes of a table given by its QualifiedName.
func (c *Catalog) IndexesOn(qualifiedTable string) []Index {
	var out []Index
	for _, ix := range c.Indexes {
		if ix.Table == qualifiedTable {
			out = append(out, ix)
		}
	}
	return out
}

// Column returns the column called name.
func (t *Table) Column(name string) (*Column, bool) {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i], true
		}
	}
	return nil, false
}

// OwnRows are the relations whose own rows, read FROM ONLY, hold t's: t,
// or for a partitioned table the leaf partitions the catalog holds, the
// first limit of them. Read through the parent, a foreign partition, which
// the catalog leaves out, would run its wrapper: a file_fdw program, a
// query on another server.
func (c *Catalog) OwnRows(t *Table, limit int) []*Table {
	var out []*Table
	var visit func(t *Table, depth int)
	visit = func(t *Table, depth int) {
		if len(out) >= limit || depth > maxPartitionDepth {
			return
		}
		if t.Kind != "p" {
			out = append(out, t)
			return
		}
		for _, name := range t.Partitions {
			for i := range c.Tables {
				if p := &c.Tables[i]; p.QualifiedName() == name {
					visit(p, depth+1)
				}
			}
		}
	}
	visit(t, 0)
	return out
}

// maxPartitionDepth bounds a walk down partitions (a catalog read at two
// moments could hold a cycle).
const maxPartitionDepth = 32
