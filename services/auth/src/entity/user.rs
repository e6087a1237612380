//! An account.

use sea_orm::entity::prelude::*;

/// One account. The password hash never leaves this crate and is never logged (`Debug` is written by hand).
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// User id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Normalised e-mail (trimmed, lowercased); unique.
    pub email: String,
    /// Name shown to people.
    pub display_name: String,
    /// `en` or `pt-BR`.
    pub locale: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Set when an operator disabled the account.
    pub disabled_at: Option<TimeDateTimeWithTimeZone>,
    /// Created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// Last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("locale", &self.locale)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
