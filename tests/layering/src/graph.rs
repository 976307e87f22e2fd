//! A directed graph of named nodes, each edge with an example of why it is there, and its
//! cycles (strongly connected components of more than one node, or a node on itself).

use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct Graph {
    /// `from -> to -> why` (the first reference seen, e.g. `crate::api::SharedState in api.rs`).
    pub edges: BTreeMap<String, BTreeMap<String, String>>,
}

impl Graph {
    pub fn add(&mut self, from: &str, to: &str, why: impl FnOnce() -> String) {
        self.edges
            .entry(from.to_owned())
            .or_default()
            .entry(to.to_owned())
            .or_insert_with(why);
    }

    /// Every cycle, as the nodes of one strongly connected component (sorted), with the edges
    /// inside it and why each is there.
    pub fn cycles(&self) -> Vec<Vec<(String, String, String)>> {
        let nodes: Vec<&String> = self
            .edges
            .iter()
            .flat_map(|(from, to)| std::iter::once(from).chain(to.keys()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut tarjan = Tarjan {
            graph: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: std::collections::BTreeSet::new(),
            next: 0,
            components: Vec::new(),
        };
        for node in nodes {
            if !tarjan.index.contains_key(node.as_str()) {
                tarjan.visit(node);
            }
        }
        tarjan
            .components
            .into_iter()
            .filter(|c| c.len() > 1 || self.has_edge(&c[0], &c[0]))
            .map(|component| {
                let mut inside = Vec::new();
                for from in &component {
                    for (to, why) in self.edges.get(from).into_iter().flatten() {
                        if component.contains(to) {
                            inside.push((from.clone(), to.clone(), why.clone()));
                        }
                    }
                }
                inside
            })
            .collect()
    }

    fn has_edge(&self, from: &str, to: &str) -> bool {
        self.edges.get(from).is_some_and(|e| e.contains_key(to))
    }
}

struct Tarjan<'g> {
    graph: &'g Graph,
    index: BTreeMap<&'g str, usize>,
    low: BTreeMap<&'g str, usize>,
    stack: Vec<&'g str>,
    on_stack: std::collections::BTreeSet<&'g str>,
    next: usize,
    components: Vec<Vec<String>>,
}

impl<'g> Tarjan<'g> {
    fn visit(&mut self, node: &'g str) {
        self.index.insert(node, self.next);
        self.low.insert(node, self.next);
        self.next += 1;
        self.stack.push(node);
        self.on_stack.insert(node);
        for to in self
            .graph
            .edges
            .get(node)
            .into_iter()
            .flat_map(|e| e.keys())
        {
            let to = to.as_str();
            if !self.index.contains_key(to) {
                self.visit(to);
                let low = self.low[node].min(self.low[to]);
                self.low.insert(node, low);
            } else if self.on_stack.contains(to) {
                let low = self.low[node].min(self.index[to]);
                self.low.insert(node, low);
            }
        }
        if self.low[node] == self.index[node] {
            let mut component = Vec::new();
            while let Some(top) = self.stack.pop() {
                self.on_stack.remove(top);
                component.push(top.to_owned());
                if top == node {
                    break;
                }
            }
            component.sort();
            self.components.push(component);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::default();
        for (a, b) in edges {
            g.add(a, b, || format!("{a} uses {b}"));
        }
        g
    }

    #[test]
    fn a_chain_has_no_cycle() {
        assert!(graph(&[("a", "b"), ("b", "c"), ("a", "c")])
            .cycles()
            .is_empty());
    }

    #[test]
    fn a_circle_of_three_is_one_cycle_with_its_edges() {
        let cycles = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]).cycles();
        assert_eq!(cycles.len(), 1);
        let nodes: Vec<&str> = cycles[0].iter().map(|(from, _, _)| from.as_str()).collect();
        assert_eq!(nodes, ["a", "b", "c"]);
        assert!(cycles[0].iter().all(|(_, to, _)| to != "d"));
    }

    #[test]
    fn a_node_on_itself_is_a_cycle() {
        assert_eq!(graph(&[("a", "a")]).cycles().len(), 1);
    }
}
