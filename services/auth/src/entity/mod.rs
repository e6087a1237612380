//! sea-orm entities of the auth tables (DDL in `fiapx-migration`).

pub mod refresh_token;
pub mod user;
