//! Comparing the replicas of a cluster: each member's signed state roots at a block they all
//! reached, and the members whose roots differ from the others'.

use std::collections::BTreeMap;

use fat_types::{ClusterId, ContractId, Hash32, WorkerId};
use serde::Serialize;

use crate::{Client, Result};

/// A member of a cluster as [`Client::compare_replicas`] found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    /// The member.
    pub worker: WorkerId,
    /// The last block it applied, when it answered.
    pub height: Option<u64>,
    /// Why it gave no roots (down, behind, or roots that did not verify).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A member whose root of a contract differs from the others'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The contract.
    pub contract: ContractId,
    /// The member.
    pub worker: WorkerId,
    /// Its root.
    pub root: Hash32,
    /// The root most members signed; `None` when no root has more signers than every other
    /// (then each member that disagrees with another is listed).
    pub majority: Option<Hash32>,
}

/// The replicas of one cluster compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaCheck {
    /// The cluster.
    pub cluster: ClusterId,
    /// The block compared at: the lowest head among the members that answered.
    pub height: Option<u64>,
    /// Every member the client could try.
    pub members: Vec<MemberView>,
    /// The contracts whose roots differ, member by member.
    pub diverged: Vec<Divergence>,
}

impl Client {
    /// Compare the state roots the members of `cluster` sign at the last block all of them
    /// that answer reached. Members that are down or whose roots do not verify are listed
    /// with why, and have no say.
    pub async fn compare_replicas(&self, cluster: &ClusterId) -> Result<ReplicaCheck> {
        let workers = self.trusted_workers_for(Some(*cluster)).await?;
        let mut members = Vec::with_capacity(workers.len());
        let mut heads = Vec::new();
        for worker in &workers {
            let answer = worker.api().status().await;
            let (height, error) = match answer {
                Ok(status) if status.worker != worker.id => (
                    None,
                    Some(format!("it answers as worker {}", status.worker)),
                ),
                Ok(status) => (status.height, None),
                Err(e) => (None, Some(e.to_string())),
            };
            if let Some(h) = height {
                heads.push(h);
            }
            members.push(MemberView {
                worker: worker.id,
                height,
                error,
            });
        }
        let height = heads.iter().copied().min();
        let mut by_contract: BTreeMap<ContractId, Vec<(WorkerId, Hash32)>> = BTreeMap::new();
        if let Some(height) = height {
            for (worker, member) in workers.iter().zip(&mut members) {
                if member.error.is_some() {
                    continue;
                }
                let signed = match worker.api().roots(Some(height)).await {
                    Ok(signed) => signed,
                    Err(e) => {
                        member.error = Some(e.to_string());
                        continue;
                    }
                };
                if signed.worker != worker.id || signed.height != height {
                    member.error = Some(format!(
                        "it sent the roots of worker {} at block {}",
                        signed.worker, signed.height
                    ));
                    continue;
                }
                if let Err(e) = signed.verify() {
                    member.error = Some(e);
                    continue;
                }
                for root in signed.roots {
                    by_contract
                        .entry(root.contract)
                        .or_default()
                        .push((worker.id, root.root));
                }
            }
        }
        let mut diverged = Vec::new();
        for (contract, roots) in by_contract {
            diverged.extend(divergences(contract, &roots));
        }
        Ok(ReplicaCheck {
            cluster: *cluster,
            height,
            members,
            diverged,
        })
    }
}

/// The members whose root of `contract` is not the one most of them signed.
fn divergences(contract: ContractId, roots: &[(WorkerId, Hash32)]) -> Vec<Divergence> {
    let mut counts: BTreeMap<Hash32, usize> = BTreeMap::new();
    for (_, root) in roots {
        *counts.entry(*root).or_default() += 1;
    }
    if counts.len() < 2 {
        return Vec::new();
    }
    let top = counts.values().copied().max().unwrap_or(0);
    let mut leaders = counts.iter().filter(|(_, n)| **n == top).map(|(r, _)| *r);
    let majority = match (leaders.next(), leaders.next()) {
        (Some(root), None) => Some(root),
        _ => None,
    };
    roots
        .iter()
        .filter(|(_, root)| Some(*root) != majority)
        .map(|(worker, root)| Divergence {
            contract,
            worker: *worker,
            root: *root,
            majority,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: u8) -> WorkerId {
        WorkerId([n; 32])
    }

    fn r(n: u8) -> Hash32 {
        Hash32([n; 32])
    }

    #[test]
    fn the_member_out_of_step_with_the_majority_is_named() {
        let c = ContractId([9; 32]);
        assert!(divergences(c, &[(w(1), r(1)), (w(2), r(1))]).is_empty());
        let found = divergences(c, &[(w(1), r(1)), (w(2), r(2)), (w(3), r(1))]);
        assert_eq!(
            found,
            vec![Divergence {
                contract: c,
                worker: w(2),
                root: r(2),
                majority: Some(r(1)),
            }]
        );
        // Two members that disagree: no majority, both named.
        let found = divergences(c, &[(w(1), r(1)), (w(2), r(2))]);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|d| d.majority.is_none()));
    }
}
