//! Fair shares of bcrypt: one client IP may have at most
//! `LOGIN_MAX_CONCURRENT_PER_IP` password checks in flight. bcrypt is
//! bounded globally too (`BCRYPT_MAX_CONCURRENCY`, in password.rs), and that
//! queue is first come, first served, so without this bound one address
//! with a self-registered account (whose right password the throttle never
//! charges) could fill the queue and make everyone else's login wait behind
//! its whole storm. More checks from the same address wait their turn, up
//! to `LOGIN_QUEUE_TIMEOUT`, then get 429. One address never gets every
//! bcrypt permit: its share is at most `BCRYPT_MAX_CONCURRENCY - 1` (when
//! there are two or more), so another client's check finds a permit free
//! instead of queueing behind the storm.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{client_ip::budget_key, errors::AppError};

pub struct ClientSlots {
    per_client: usize,
    wait: Duration,
    /// Per client key: its slots and how many checks hold or wait for one.
    /// An entry goes when its last user does, so the map is bounded by the
    /// logins in flight.
    clients: Mutex<HashMap<IpAddr, (Arc<Semaphore>, usize)>>,
}

/// A password-check slot for one client, held until dropped.
pub struct Slot<'a> {
    slots: &'a ClientSlots,
    key: IpAddr,
    permit: Option<OwnedSemaphorePermit>,
}

impl ClientSlots {
    /// `per_client` is `LOGIN_MAX_CONCURRENT_PER_IP`, `bcrypt_permits`
    /// `BCRYPT_MAX_CONCURRENCY`.
    pub fn new(per_client: usize, bcrypt_permits: usize, wait: Duration) -> Self {
        ClientSlots {
            per_client: share(per_client, bcrypt_permits),
            wait,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Held only for map operations; poisoning cannot leave it inconsistent
    /// in a way that matters.
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, (Arc<Semaphore>, usize)>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for one of the client's slots; 429 (`Retry-After: 1`) when
    /// none frees up within the wait.
    pub async fn acquire(&self, client: IpAddr) -> Result<Slot<'_>, AppError> {
        let key = budget_key(client);
        let semaphore = {
            let mut clients = self.lock();
            let (semaphore, users) = clients
                .entry(key)
                .or_insert_with(|| (Arc::new(Semaphore::new(self.per_client)), 0));
            *users += 1;
            Arc::clone(semaphore)
        };
        // Counted as a user from here, so a cancelled wait still leaves.
        let mut slot = Slot {
            slots: self,
            key,
            permit: None,
        };
        match actix_web::rt::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => {
                slot.permit = Some(permit);
                Ok(slot)
            }
            Ok(Err(closed)) => Err(AppError::internal(closed)),
            Err(_) => {
                log::info!("login throttled: client IP has too many password checks in flight");
                Err(AppError::TooManyRequests {
                    retry_after_secs: 1,
                })
            }
        }
    }

    #[cfg(test)]
    fn clients(&self) -> usize {
        self.lock().len()
    }
}

/// A client's slots: as configured, but leaving one bcrypt permit to others.
fn share(per_client: usize, bcrypt_permits: usize) -> usize {
    per_client.min(bcrypt_permits.saturating_sub(1)).max(1)
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut clients = self.slots.lock();
        if let Some((_, users)) = clients.get_mut(&self.key) {
            *users -= 1;
            if *users == 0 {
                clients.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn one_client_never_gets_every_bcrypt_permit() {
        assert_eq!(share(2, 2), 1);
        assert_eq!(share(2, 3), 2);
        assert_eq!(share(2, 16), 2);
        assert_eq!(share(8, 4), 3);
        // With a single permit there is nothing to leave.
        assert_eq!(share(2, 1), 1);
        assert_eq!(share(1, 64), 1);
    }

    #[actix_web::test]
    async fn one_client_gets_at_most_its_slots_while_others_are_served_at_once() {
        let slots = ClientSlots::new(2, 8, Duration::from_secs(5));
        let a1 = slots.acquire(ip("192.0.2.1")).await.expect("first");
        let _a2 = slots.acquire(ip("192.0.2.1")).await.expect("second");
        let mut third = Box::pin(slots.acquire(ip("192.0.2.1")));
        assert!(third.as_mut().now_or_never().is_none(), "the third waits");
        // Another client is not behind them; the same /64 is the same client.
        assert!(slots.acquire(ip("192.0.2.2")).now_or_never().is_some());
        let _v6 = slots.acquire(ip("2001:db8::1")).await.expect("v6");
        let mut same_64 = Box::pin(slots.acquire(ip("2001:db8::2")));
        let _v6b = same_64.as_mut().await.expect("second of the /64");
        assert!(
            Box::pin(slots.acquire(ip("2001:db8::3")))
                .as_mut()
                .now_or_never()
                .is_none()
        );
        drop(a1);
        assert!(third.await.is_ok(), "a freed slot goes to the waiter");
    }

    #[actix_web::test]
    async fn a_client_waits_at_most_the_queue_timeout_then_gets_429() {
        let slots = ClientSlots::new(1, 8, Duration::from_millis(30));
        let _held = slots.acquire(ip("192.0.2.1")).await.expect("first");
        let refused = slots.acquire(ip("192.0.2.1")).await;
        assert!(matches!(
            refused,
            Err(AppError::TooManyRequests {
                retry_after_secs: 1
            })
        ));
    }

    #[actix_web::test]
    async fn clients_are_forgotten_when_their_last_check_ends_or_gives_up() {
        let slots = ClientSlots::new(1, 8, Duration::from_secs(5));
        let held = slots.acquire(ip("192.0.2.1")).await.expect("first");
        // A wait abandoned midway (the client went away) leaves no trace.
        assert!(
            Box::pin(slots.acquire(ip("192.0.2.1")))
                .as_mut()
                .now_or_never()
                .is_none()
        );
        assert_eq!(slots.clients(), 1);
        drop(held);
        assert_eq!(slots.clients(), 0);
    }
}
