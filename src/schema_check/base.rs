//! The schema a check compares with: a file, the supergraph at a git
//! revision, or (by default) the supergraph at the merge base of HEAD and
//! the default branch, which is what a pull request changes.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

use super::graph::{Graph, SdlFile};
use crate::subgraphs::Subgraph;

/// `against`: a file that exists, else a git revision; None for the merge base.
pub fn load(against: Option<&str>, supergraph_path: &Path) -> anyhow::Result<Graph> {
    if let Some(file) = against.filter(|against| Path::new(against).is_file()) {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        return Graph::from_sdl(file, &text, vec![SdlFile::new(file, None, &text)]);
    }
    let (revision, why) = match against {
        Some(revision) => (revision.to_string(), String::new()),
        None => {
            let branch = default_branch()?;
            let base = git(&["merge-base", "HEAD", &branch]).with_context(|| format!("finding the merge base of HEAD and {branch}"))?;
            (base, format!(" (merge base of HEAD and {branch})"))
        }
    };
    let commit = git(&["rev-parse", "--verify", "--quiet", &format!("{revision}^{{commit}}")])
        .with_context(|| format!("{revision:?} is neither a file nor a git revision"))?;
    let supergraph_file = supergraph_path.display().to_string();
    let text = git(&["show", &format!("{commit}:./{supergraph_file}")]).with_context(|| format!("reading {supergraph_file} at {revision}"))?;
    // The subgraphs' SDL files at that revision, where they were committed,
    // so that a removal is shown where it was written.
    let mut files: Vec<SdlFile> = Subgraph::ALL
        .iter()
        .filter_map(|subgraph| {
            let file = subgraph.sdl_file().display().to_string();
            let sdl = git(&["show", &format!("{commit}:./{file}")]).ok()?;
            Some(SdlFile::new(file, Some(subgraph.name().to_string()), &sdl))
        })
        .collect();
    files.push(SdlFile::new(&supergraph_file, None, &text));
    let short = &commit[..commit.len().min(10)];
    Graph::from_sdl(format!("{supergraph_file} at {short}{why}"), &text, files)
}

/// The branch pull requests merge into: origin's HEAD, else main or master.
fn default_branch() -> anyhow::Result<String> {
    if let Ok(branch) = git(&["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"]) {
        return Ok(branch);
    }
    for candidate in ["origin/main", "origin/master", "main", "master"] {
        if git(&["rev-parse", "--verify", "--quiet", candidate]).is_ok() {
            return Ok(candidate.to_string());
        }
    }
    bail!("no default branch to compare with (origin/HEAD, main, master): pass --against FILE|REF, or fetch the branch (in CI, check out with full history)")
}

/// Runs git; its trimmed output, or why it failed.
fn git(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git").args(args).output().context("running git")?;
    if !output.status.success() {
        bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_string())
}
