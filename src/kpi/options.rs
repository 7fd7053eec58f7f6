//! DataFusion's options for the engine's sessions. KPI queries are many and small (a
//! dashboard page runs about fifteen side by side, a report a hundred), so their
//! sessions are tuned for the fixed cost of each query rather than for one large
//! scan; analysts' ad-hoc queries and the rollup refresh keep DataFusion's defaults.
//! Any `DATAFUSION_*` environment variable (DataFusion's own names, for example
//! `DATAFUSION_EXECUTION_TARGET_PARTITIONS`) overrides both, for tuning without a
//! rebuild.

use std::sync::OnceLock;

use datafusion::prelude::SessionConfig;

use super::KpiError;

/// What a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// One small query among many: a KPI, a table of a page.
    Small,
    /// Anything else (ad-hoc SQL, the rollup refresh): DataFusion's defaults.
    Large,
}

/// The options for `purpose`, with the environment's overrides; read once.
pub fn config(purpose: Use) -> Result<SessionConfig, KpiError> {
    static SMALL: OnceLock<Result<SessionConfig, String>> = OnceLock::new();
    static LARGE: OnceLock<Result<SessionConfig, String>> = OnceLock::new();
    let cell = match purpose {
        Use::Small => &SMALL,
        Use::Large => &LARGE,
    };
    cell.get_or_init(|| with_env(defaults(purpose))).clone().map_err(KpiError::Usage)
}

fn defaults(purpose: Use) -> SessionConfig {
    let config = SessionConfig::new();
    match purpose {
        Use::Large => config,
        // Measured on the national dashboard (pilot lake, CPU per page of the server):
        // - one partition: the queries of a page already keep every core busy, and
        //   repartitioning a few thousand rows to spread them costs more than it
        //   saves (about 8 % of the page's CPU);
        // - one optimizer pass: the KPI SQL is small and written to be planned once;
        //   the second and third passes found nothing more to do but cost the time
        //   (about 10 %);
        // - no bloom filters looked for: the lake's writers write none;
        // - no dynamic filters: a join or aggregate would build one from its first
        //   side to prune the scans of the other, but here the build sides are the
        //   request tables (days, units) and the scans are already cut to the
        //   request's days, so building and checking them was pure cost (about 10 %).
        Use::Small => config
            .with_target_partitions(1)
            .set_usize("datafusion.optimizer.max_passes", 1)
            .set_bool("datafusion.execution.parquet.bloom_filter_on_read", false)
            .set_bool("datafusion.optimizer.enable_dynamic_filter_pushdown", false),
    }
}

/// `config` with every option that a `DATAFUSION_*` variable names set from it.
/// DataFusion's `SessionConfig::from_env` reads the same variables but starts from
/// its own defaults, which would drop the small queries' ones: hence this overlay.
fn with_env(mut config: SessionConfig) -> Result<SessionConfig, String> {
    let keys: Vec<String> = config.options().entries().into_iter().map(|e| e.key).collect();
    for key in keys {
        let var = key.to_uppercase().replace('.', "_");
        if let Some(value) = std::env::var_os(&var) {
            config
                .options_mut()
                .set(&key, &value.to_string_lossy())
                .map_err(|e| format!("environment variable {var}: {e}"))?;
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_queries_run_in_one_partition_and_large_ones_keep_the_defaults() {
        let small = defaults(Use::Small);
        assert_eq!(small.target_partitions(), 1);
        assert_eq!(small.options().optimizer.max_passes, 1);
        assert!(!small.options().execution.parquet.bloom_filter_on_read);
        assert!(!small.options().optimizer.enable_join_dynamic_filter_pushdown);
        let large = defaults(Use::Large);
        assert_eq!(large.options().optimizer.max_passes, SessionConfig::new().options().optimizer.max_passes);
    }
}
