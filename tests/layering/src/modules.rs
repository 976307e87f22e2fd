//! The module graph of one crate, read from its sources with `syn`: a node per module (a
//! file, or an inline `mod`), an edge wherever a module names a path into another (`use`
//! items and paths in code). Test code (`#[cfg(test)]`) is left out. A `pub use` of a
//! module's own descendant is its facade, not a dependency: it adds no edge, and a path
//! through it leads to the module the item lives in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

use crate::graph::Graph;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse {path}: {source}")]
    Parse { path: PathBuf, source: syn::Error },
    #[error("{path}: module `{name}` has no file (tried {tried:?})")]
    MissingModule {
        path: PathBuf,
        name: String,
        tried: Vec<PathBuf>,
    },
}

/// A path one module names: its segments, and whether it is a re-export (`pub use`).
#[derive(Debug, Clone)]
struct Named {
    segments: Vec<String>,
    reexport: bool,
    /// A `use` item (not a path in code), and the name it binds when renamed (`as`).
    import: bool,
    alias: Option<String>,
}

impl Named {
    /// The name a `use` binds in its module.
    fn binds(&self) -> Option<&str> {
        self.alias
            .as_deref()
            .or_else(|| self.segments.last().map(String::as_str))
    }
}

#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    children: BTreeSet<String>,
    named: Vec<Named>,
}

/// The modules of one crate: `crate` for the root, `crate::a::b` below.
#[derive(Debug, Default)]
pub struct CrateModules {
    modules: BTreeMap<String, Module>,
}

pub const ROOT: &str = "crate";

impl CrateModules {
    /// Reads the crate whose root file (`lib.rs`, `main.rs`) is `root`.
    pub fn read(root: &Path) -> Result<Self, Error> {
        let mut modules = Self::default();
        let file = parse(root)?;
        let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
        modules.module(ROOT, root, &dir, &file.items)?;
        Ok(modules)
    }

    /// The module paths, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    fn module(
        &mut self,
        name: &str,
        file: &Path,
        dir: &Path,
        items: &[syn::Item],
    ) -> Result<(), Error> {
        let mut collector = Collector::default();
        let mut children = BTreeSet::new();
        let mut inner = Vec::new();
        for item in items {
            if is_test(item_attrs(item)) {
                continue;
            }
            match item {
                syn::Item::Mod(m) => {
                    children.insert(m.ident.to_string());
                    inner.push(m);
                }
                other => collector.visit_item(other),
            }
        }
        self.modules.insert(
            name.to_owned(),
            Module {
                file: file.to_path_buf(),
                children,
                named: collector.named,
            },
        );
        for m in inner {
            let child = format!("{name}::{}", m.ident);
            let child_dir = dir.join(m.ident.to_string());
            match &m.content {
                Some((_, items)) => self.module(&child, file, &child_dir, items)?,
                None => {
                    let tried = match path_attr(&m.attrs) {
                        Some(path) => vec![dir.join(path)],
                        None => vec![
                            dir.join(format!("{}.rs", m.ident)),
                            child_dir.join("mod.rs"),
                        ],
                    };
                    let Some(found) = tried.iter().find(|p| p.is_file()).cloned() else {
                        return Err(Error::MissingModule {
                            path: file.to_path_buf(),
                            name: m.ident.to_string(),
                            tried,
                        });
                    };
                    let parsed = parse(&found)?;
                    self.module(&child, &found, &child_dir, &parsed.items)?;
                }
            }
        }
        Ok(())
    }

    /// The module a path named in `from` leads to, if it leads into this crate.
    fn resolve(&self, from: &str, segments: &[String], depth: usize) -> Option<String> {
        let (mut at, rest) = match segments.first()?.as_str() {
            "crate" => (ROOT.to_owned(), &segments[1..]),
            "self" => (from.to_owned(), &segments[1..]),
            "super" => (from.to_owned(), segments),
            first if self.modules[from].children.contains(first) => (from.to_owned(), segments),
            // A name this module imported (`use crate::service as s; s::f()`): through it.
            first => {
                let import = self.modules[from]
                    .named
                    .iter()
                    .find(|n| n.import && n.binds() == Some(first) && n.segments.len() > 1)?;
                if depth >= 8 {
                    return None;
                }
                let through: Vec<String> = import
                    .segments
                    .iter()
                    .chain(&segments[1..])
                    .cloned()
                    .collect();
                return self.resolve(from, &through, depth + 1);
            }
        };
        for segment in rest {
            if segment == "super" {
                at = parent(&at)?.to_owned();
                continue;
            }
            let child = format!("{at}::{segment}");
            if self.modules.contains_key(&child) {
                at = child;
                continue;
            }
            // An item `at` re-exports: where it lives.
            if depth < 8 {
                if let Some(home) = self.reexported(&at, segment, depth + 1) {
                    at = home;
                }
            }
            break;
        }
        Some(at)
    }

    /// Where the item `name` that `module` re-exports (`pub use x::name`) lives.
    fn reexported(&self, module: &str, name: &str, depth: usize) -> Option<String> {
        self.modules[module]
            .named
            .iter()
            .filter(|n| n.reexport && n.binds() == Some(name))
            .find_map(|n| self.resolve(module, &n.segments, depth))
            .filter(|home| home != module)
    }

    /// The crate's module graph, module to module.
    pub fn graph(&self) -> Graph {
        let mut graph = Graph::default();
        for (name, module) in &self.modules {
            for named in &module.named {
                let Some(to) = self.resolve(name, &named.segments, 0) else {
                    continue;
                };
                if to == *name || (named.reexport && is_below(&to, name)) {
                    continue;
                }
                graph.add(name, &to, || {
                    format!(
                        "`{}` in {}",
                        named.segments.join("::"),
                        module.file.display()
                    )
                });
            }
        }
        graph
    }

    /// The graph between siblings: an edge from anywhere in module `a` to anywhere in its
    /// sibling `b` is an edge `a -> b` (a module and its submodules are one unit to their
    /// siblings). Between a module and its own submodules there is no edge: the parent is
    /// what composes them. A cycle here is a circle of imports among siblings (of the crate
    /// root's modules, or of any module's submodules).
    pub fn sibling_graph(&self) -> Graph {
        let mut siblings = Graph::default();
        for (from, to) in self.graph().edges {
            for (to, why) in to {
                if let Some((a, b)) = below_common_ancestor(&from, &to) {
                    siblings.add(&a, &b, || match (a == from, b == to) {
                        (true, true) => why.clone(),
                        _ => format!("{from} -> {to}: {why}"),
                    });
                }
            }
        }
        siblings
    }
}

/// The children of `a`'s and `b`'s closest common ancestor that hold them, when neither is
/// the other's ancestor.
fn below_common_ancestor(a: &str, b: &str) -> Option<(String, String)> {
    let a_parts: Vec<&str> = a.split("::").collect();
    let b_parts: Vec<&str> = b.split("::").collect();
    let common = a_parts
        .iter()
        .zip(&b_parts)
        .take_while(|(x, y)| x == y)
        .count();
    if common == a_parts.len() || common == b_parts.len() {
        return None;
    }
    Some((a_parts[..=common].join("::"), b_parts[..=common].join("::")))
}

fn parse(path: &Path) -> Result<syn::File, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    syn::parse_file(&text).map_err(|source| Error::Parse {
        path: path.to_path_buf(),
        source,
    })
}

fn parent(module: &str) -> Option<&str> {
    module.rsplit_once("::").map(|(parent, _)| parent)
}

/// Whether `module` is below `ancestor`.
pub fn is_below(module: &str, ancestor: &str) -> bool {
    module
        .strip_prefix(ancestor)
        .is_some_and(|rest| rest.starts_with("::"))
}

/// Whether an item is compiled for tests only: `#[cfg(test)]` or `#[cfg(all(test, ...))]`
/// (not `not(test)` or `any(test, ...)`, which are compiled outside tests too).
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && matches!(&attr.meta, syn::Meta::List(list) if {
                let words: Vec<String> = list
                    .tokens
                    .to_string()
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect();
                words.first().is_some_and(|w| w == "test" || w == "all")
                    && words.iter().any(|w| w == "test")
                    && !words.iter().any(|w| w == "not" || w == "any")
            })
    })
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item::*;
    match item {
        Const(i) => &i.attrs,
        Enum(i) => &i.attrs,
        ExternCrate(i) => &i.attrs,
        Fn(i) => &i.attrs,
        ForeignMod(i) => &i.attrs,
        Impl(i) => &i.attrs,
        Macro(i) => &i.attrs,
        Mod(i) => &i.attrs,
        Static(i) => &i.attrs,
        Struct(i) => &i.attrs,
        Trait(i) => &i.attrs,
        TraitAlias(i) => &i.attrs,
        Type(i) => &i.attrs,
        Union(i) => &i.attrs,
        Use(i) => &i.attrs,
        _ => &[],
    }
}

/// Collects the paths a module's items name (not its inline modules', nor test code's).
#[derive(Default)]
struct Collector {
    named: Vec<Named>,
}

impl Collector {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, reexport: bool) {
        let mut push = |segments: Vec<String>, alias: Option<String>| {
            self.named.push(Named {
                segments,
                reexport,
                import: true,
                alias,
            })
        };
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, reexport);
                prefix.pop();
            }
            syn::UseTree::Name(n) if n.ident == "self" => push(prefix.clone(), None),
            syn::UseTree::Name(n) => {
                push([prefix.as_slice(), &[n.ident.to_string()]].concat(), None)
            }
            syn::UseTree::Rename(r) => push(
                [prefix.as_slice(), &[r.ident.to_string()]].concat(),
                Some(r.rename.to_string()),
            ),
            // A glob binds no one name: an edge to the module it reads.
            syn::UseTree::Glob(_) => push(prefix.clone(), Some("*".into())),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree, reexport);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if is_test(item_attrs(item)) || matches!(item, syn::Item::Mod(_)) {
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let reexport = !matches!(item.vis, syn::Visibility::Inherited);
        self.use_tree(&mut Vec::new(), &item.tree, reexport);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.len() > 1 {
            self.named.push(Named {
                segments,
                reexport: false,
                import: false,
                alias: None,
            });
        }
        syn::visit::visit_path(self, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    fn edges(files: &[(&str, &str)]) -> Vec<(String, String)> {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), files);
        let graph = CrateModules::read(&dir.path().join("lib.rs"))
            .unwrap()
            .graph();
        graph
            .edges
            .iter()
            .flat_map(|(from, to)| to.keys().map(move |to| (from.clone(), to.clone())))
            .collect()
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    #[test]
    fn uses_paths_and_supers_become_edges() {
        let found = edges(&[
            ("lib.rs", "pub mod a; pub mod b; mod c { pub fn f() {} }"),
            ("a.rs", "use crate::b::Thing; fn g() { super::c::f(); }"),
            ("b/mod.rs", "pub struct Thing; mod inner;"),
            ("b/inner.rs", "use super::Thing; fn h() -> Thing { Thing }"),
        ]);
        assert_eq!(
            found,
            [
                pair("crate::a", "crate::b"),
                pair("crate::a", "crate::c"),
                pair("crate::b::inner", "crate::b"),
            ]
        );
    }

    #[test]
    fn a_circle_through_an_old_style_api_file_is_found() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("lib.rs", "pub mod api; pub mod monitor;"),
                (
                    "api.rs",
                    "pub struct State; pub fn router() { crate::monitor::routes(); }",
                ),
                (
                    "monitor/mod.rs",
                    "use crate::api::State; pub fn routes() {}",
                ),
            ],
        );
        let cycles = CrateModules::read(&dir.path().join("lib.rs"))
            .unwrap()
            .sibling_graph()
            .cycles();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
    }

    #[test]
    fn facades_and_tests_add_no_edge_and_paths_follow_reexports() {
        let found = edges(&[
            (
                "lib.rs",
                "pub mod state; pub mod routes; pub use state::AppState;",
            ),
            ("state.rs", "pub struct AppState;"),
            (
                "routes/mod.rs",
                "mod predict; pub use predict::handler; \
                 #[cfg(test)] mod tests { use crate::routes::handler; }",
            ),
            (
                "routes/predict.rs",
                "pub fn handler(_: crate::AppState) {} \
                 #[cfg(test)] fn only_in_tests() { crate::routes::handler(crate::AppState); }",
            ),
        ]);
        assert_eq!(found, [pair("crate::routes::predict", "crate::state")]);
    }

    #[test]
    fn a_parent_and_its_children_are_not_a_circle_but_siblings_are() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("lib.rs", "pub mod routes;"),
                (
                    "routes/mod.rs",
                    "mod a; mod b; pub const ROLES: u8 = 1; pub fn all() { a::f(); b::g(); }",
                ),
                ("routes/a.rs", "pub fn f() { let _ = super::ROLES; }"),
                ("routes/b.rs", "pub fn g() { let _ = super::ROLES; }"),
            ],
        );
        let modules = CrateModules::read(&dir.path().join("lib.rs")).unwrap();
        assert!(modules.sibling_graph().cycles().is_empty());
        write(
            dir.path(),
            &[
                ("routes/a.rs", "pub fn f() { super::b::g(); }"),
                ("routes/b.rs", "pub fn g() { super::a::f(); }"),
            ],
        );
        let modules = CrateModules::read(&dir.path().join("lib.rs")).unwrap();
        let cycles = modules.sibling_graph().cycles();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert_eq!(cycles[0][0].0, "crate::routes::a");
    }

    #[test]
    fn renamed_imports_and_cfg_not_test_are_followed() {
        let found = edges(&[
            ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
            ("a.rs", "use crate::b as other; pub fn f() { other::g(); }"),
            ("b.rs", "pub fn g() {} pub use crate::c::H as Renamed;"),
            (
                "c.rs",
                "pub struct H; #[cfg(not(test))] fn live() { crate::a::f(); }",
            ),
        ]);
        assert_eq!(
            found,
            [
                pair("crate::a", "crate::b"),
                pair("crate::b", "crate::c"),
                pair("crate::c", "crate::a"),
            ]
        );
    }

    #[test]
    fn a_missing_module_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("lib.rs", "mod gone;")]);
        let error = CrateModules::read(&dir.path().join("lib.rs")).unwrap_err();
        assert!(error.to_string().contains("`gone`"), "{error}");
    }
}
