//! One module per subcommand.

pub mod api;
pub mod config;
pub mod dev;
pub mod eval;
pub mod keys;
pub mod migrate;
pub mod queues;
pub mod secrets;
pub mod supervise;
pub mod worker;
