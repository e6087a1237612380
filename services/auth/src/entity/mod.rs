//! sea-orm entities of the auth tables (DDL in `fiapx-database`).

pub mod refresh_token;
pub mod share;
pub mod user;
