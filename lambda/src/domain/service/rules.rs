//! The owner's privacy rules, as the service reads them: at most once a minute.

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use super::{NowPlayingService, lock};
use crate::domain::ports::PrivacySource;
use crate::domain::{Privacy, PrivacyRules};

/// The privacy rules are read again when older than this: a change shows within it plus
/// the answers' cache lifetime.
pub const PRIVACY_REREAD: Duration = Duration::from_secs(60);

impl NowPlayingService {
    /// Answers obey the owner's rules from `source`.
    pub fn with_privacy(mut self, source: Arc<dyn PrivacySource>) -> Self {
        self.privacy_source = Some(source);
        self
    }

    /// The rules now: as read less than `PRIVACY_REREAD` ago, else read again. Rules that
    /// cannot be read or understood close everything.
    pub async fn privacy(&self) -> Privacy {
        let Some(source) = &self.privacy_source else { return Privacy::Open };
        let now = self.clock.now();
        if let Some((rules, read_at)) = lock(&self.privacy).as_ref()
            && now - *read_at < PRIVACY_REREAD
        {
            return rules.clone();
        }
        let privacy = match source.load().await {
            Ok(None) => Privacy::Open,
            Ok(Some(text)) => PrivacyRules::parse(&text).map_or_else(Privacy::Closed, Privacy::Rules),
            Err(why) => Privacy::Closed(why),
        };
        if let Privacy::Closed(why) = &privacy {
            warn!(reason = %why, "privacy rules unusable; showing nothing");
        }
        *lock(&self.privacy) = Some((privacy.clone(), now));
        privacy
    }
}
