//! The per-owner counts read model: how many videos each owner has in each status.

use fiapx_domain::VideoStatus;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, FromQueryResult};

use crate::entity::owner_counts;
use crate::generation::{Generation, statement};
use crate::videos::Transition;

/// The counter column of a status: its stable name (`new` never appears in a row).
fn column(status: VideoStatus) -> Option<&'static str> {
    (status != VideoStatus::New).then(|| status.as_str())
}

/// Moves one video from one counter to another. Only called for a status change the `videos` row really made,
/// so it inherits that row's idempotence.
pub async fn apply(
    tx: &DatabaseTransaction,
    generation: Generation,
    transition: &Transition,
) -> Result<(), DbErr> {
    let table = generation.owner_counts();
    tx.execute_raw(statement(
        format!("INSERT INTO {table} (owner_id) VALUES ($1) ON CONFLICT (owner_id) DO NOTHING"),
        [transition.owner.into()],
    ))
    .await?;
    let mut sets = Vec::new();
    if let Some(from) = transition.from.and_then(column) {
        sets.push(format!("{from} = {from} - 1"));
    }
    if let Some(to) = column(transition.to) {
        sets.push(format!("{to} = {to} + 1"));
    }
    if sets.is_empty() {
        return Ok(());
    }
    tx.execute_raw(statement(
        format!("UPDATE {table} SET {} WHERE owner_id = $1", sets.join(", ")),
        [transition.owner.into()],
    ))
    .await?;
    Ok(())
}

/// Reads every row of `generation`'s counts table, by owner (for comparisons).
pub async fn all(
    conn: &impl ConnectionTrait,
    generation: Generation,
) -> Result<Vec<owner_counts::Model>, DbErr> {
    owner_counts::Model::find_by_statement(statement(
        format!("SELECT * FROM {} ORDER BY owner_id", generation.owner_counts()),
        [],
    ))
    .all(conn)
    .await
}
