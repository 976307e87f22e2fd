//! The house as it is drawn, checked from the sources: crate dependencies run apps ->
//! services -> crates (no service on another), module imports inside every crate have no
//! cycle, and a crate that declares layers (the inference service) imports only downwards.

pub mod graph;
pub mod modules;
pub mod workspace;

use graph::Graph;

/// Edges of `graph` that go up a declared order of layers: `layers` maps module prefixes to
/// a rank (higher imports lower); a module takes the rank of its longest matching prefix, and
/// a module none matches (the crate root) ranks above all.
pub fn upward_edges(graph: &Graph, layers: &[(&str, usize)]) -> Vec<String> {
    let rank = |module: &str| {
        layers
            .iter()
            .filter(|(prefix, _)| module == *prefix || modules::is_below(module, prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(usize::MAX, |(_, rank)| *rank)
    };
    graph
        .edges
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |(to, why)| (from, to, why)))
        .filter(|(from, to, _)| rank(to) > rank(from))
        .map(|(from, to, why)| {
            format!(
                "{from} (layer {}) imports {to} (layer {}): {why}",
                rank(from),
                rank(to)
            )
        })
        .collect()
}
