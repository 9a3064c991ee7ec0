//! What can go wrong with a sweep.

use sim_scenario::ScenarioError;

/// A sweep failure. Input problems carry a file, line and column.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file, its base scenario, a point or a file they name is wrong.
    #[error("{0}")]
    Input(ScenarioError),
    /// A saved plan, journal or shard does not fit (changed plan, missing jobs, ...).
    #[error("{0}")]
    Mismatch(String),
    /// A run failed although its scenario was valid.
    #[error("{0}")]
    Run(String),
}

impl From<ScenarioError> for SweepError {
    fn from(e: ScenarioError) -> SweepError {
        SweepError::Input(e)
    }
}
