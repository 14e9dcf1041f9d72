//! The one way kafkasim runs many independent runs at once (`check`, `fuzz`, `bench`): worker
//! threads take items in order from one shared iterator (drawn lazily, so a range of 2^64
//! seeds costs nothing before it runs), each run stays on one thread (a run is
//! single-threaded and deterministic; only which thread runs it varies), and every result comes
//! back to the calling thread as soon as it finishes, so it can be printed or written at once.

use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};

/// How many worker threads: the `--jobs` asked for, or one per core; never more than there
/// are items, never fewer than one.
pub fn jobs(requested: Option<usize>, items: usize) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .clamp(1, items.max(1))
}

/// Runs `work` on the items with `jobs` threads. Before taking an item a worker asks
/// `keep_going`; once it says no, no new item starts (those running finish). `done` gets each
/// result with its item's index on the calling thread, in the order they finish.
pub fn run<T, R>(
    items: impl IntoIterator<Item = T, IntoIter: Send>,
    jobs: usize,
    keep_going: impl Fn() -> bool + Sync,
    work: impl Fn(&T) -> R + Sync,
    mut done: impl FnMut(usize, R),
) where
    T: Send,
    R: Send,
{
    let next = Mutex::new(items.into_iter().enumerate());
    let (keep_going, work, next) = (&keep_going, &work, &next);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, R)>();
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            scope.spawn(move || {
                while keep_going() {
                    // A worker that panicked held no item half-taken: the iterator is whole.
                    let taken = next.lock().unwrap_or_else(PoisonError::into_inner).next();
                    let Some((i, item)) = taken else { break };
                    if tx.send((i, work(&item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            done(i, result);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_item_runs_once_and_its_result_comes_back_with_its_index() {
        let items: Vec<u64> = (0..100).collect();
        let mut seen = vec![None; items.len()];
        run(&items, 3, || true, |x| *x * *x, |i, r| seen[i] = Some(r));
        assert!(
            seen.iter()
                .enumerate()
                .all(|(i, r)| *r == Some((i * i) as u64))
        );
    }

    #[test]
    fn once_told_to_stop_no_new_item_starts() {
        let items: Vec<u64> = (0..1000).collect();
        let started = AtomicUsize::new(0);
        let mut done = 0;
        run(
            &items,
            2,
            || started.load(Ordering::SeqCst) < 10,
            |x| {
                started.fetch_add(1, Ordering::SeqCst);
                **x
            },
            |_, _| done += 1,
        );
        // Each worker may have passed the check just before the tenth item started.
        assert!((10..=11).contains(&done), "{done} items ran");
    }

    #[test]
    fn items_are_drawn_lazily_so_a_huge_range_costs_nothing_up_front() {
        // Collecting 0..u64::MAX first would never end; drawn as taken, five items are five.
        let started = AtomicUsize::new(0);
        let mut done = 0;
        run(
            0..u64::MAX,
            2,
            || started.load(Ordering::SeqCst) < 5,
            |x| {
                started.fetch_add(1, Ordering::SeqCst);
                *x
            },
            |_, _| done += 1,
        );
        assert!((5..=6).contains(&done), "{done} items ran");
    }

    #[test]
    fn jobs_default_to_the_cores_and_stay_within_the_items() {
        assert_eq!(jobs(Some(8), 3), 3);
        assert_eq!(jobs(Some(0), 3), 1);
        assert_eq!(jobs(None, 0), 1);
        assert!(jobs(None, 1000) >= 1);
    }
}
