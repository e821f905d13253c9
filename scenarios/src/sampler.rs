//! The run's time series: the high watermarks of the source topics and of their copies on the
//! target, sampled about once a second (the report's `series`, the progress line, the drain's
//! "target still" clock). Read through the clusters' direct listeners, never the fault
//! proxies.

use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use reports::Sample;

use crate::error::ScenarioError;

/// High watermarks of the source and target topics.
pub(crate) struct Sampler {
    source: BaseConsumer,
    target: BaseConsumer,
    topics: Vec<String>,
    target_topics: Vec<String>,
}

impl Sampler {
    pub(crate) fn new(
        source: &harness::ClientProps,
        target: &harness::ClientProps,
        topics: &[String],
        target_topics: &[String],
    ) -> Result<Sampler, ScenarioError> {
        let make = |p: &harness::ClientProps| -> Result<BaseConsumer, ScenarioError> {
            p.reader("cutover-sampler")?
                .create()
                .map_err(|e| ScenarioError::System(format!("sampler client: {e}")))
        };
        Ok(Sampler {
            source: make(source)?,
            target: make(target)?,
            topics: topics.to_vec(),
            target_topics: target_topics.to_vec(),
        })
    }

    fn sum(c: &BaseConsumer, topics: &[String]) -> i64 {
        harness::watermarks::end_offsets(c, topics, Duration::from_secs(5))
            .values()
            .sum()
    }

    pub(crate) fn sample(&self, started: Instant) -> Sample {
        Sample {
            at_secs: started.elapsed().as_secs_f64(),
            source_end: Self::sum(&self.source, &self.topics),
            target_end: Self::sum(&self.target, &self.target_topics),
        }
    }
}
