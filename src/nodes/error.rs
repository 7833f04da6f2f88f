//! The nodes layer's errors. They live in the base layer (`error::nodes`, as `error::swift`
//! does for Swift) so `error` imports nothing above it; re-exported here where they are used.

pub use crate::error::nodes::NodeError;
