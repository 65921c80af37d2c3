//! Write-through persistence for `--data-dir`: every change is written to a redb database
//! before the store publishes it, and the store is rebuilt from it at start. redb is an
//! embedded, crash-safe key/value store, so a `rollout sim up` that is killed keeps what it
//! had acknowledged, and a change the disk refused was never visible.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

pub struct Persist {
    db: Database,
    /// Makes every write fail, as a full or broken disk would (for tests of that path).
    failing: AtomicBool,
}

/// One object change for the disk: its store key and its JSON, or `None` when it is gone.
pub type Change = (String, Option<Vec<u8>>);

/// What was on disk: the last resource version and every object by its store key.
pub struct Loaded {
    pub resource_version: u64,
    pub objects: Vec<(String, Vec<u8>)>,
}

impl Persist {
    pub fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
        let path = dir.join("objects.redb");
        let db =
            Database::create(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(Self {
            db,
            failing: AtomicBool::new(false),
        })
    }

    pub fn load(&self) -> Result<Loaded, String> {
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let mut out = Loaded {
            resource_version: 0,
            objects: Vec::new(),
        };
        match txn.open_table(META) {
            Ok(meta) => {
                if let Some(rv) = meta.get("resourceVersion").map_err(|e| e.to_string())? {
                    out.resource_version = rv.value();
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(out),
            Err(e) => return Err(e.to_string()),
        }
        let table = txn.open_table(OBJECTS).map_err(|e| e.to_string())?;
        for entry in table.iter().map_err(|e| e.to_string())? {
            let (k, v) = entry.map_err(|e| e.to_string())?;
            out.objects
                .push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    #[cfg(any(test, feature = "testing"))]
    pub fn fail_writes(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Writes the changes of one store operation and its last resource version in one
    /// transaction: all of it is on disk when this returns Ok, none of it otherwise.
    pub fn write(&self, changes: &[Change], resource_version: u64) -> Result<(), String> {
        if self.failing.load(Ordering::SeqCst) {
            return Err("the disk write failed (failure injected)".into());
        }
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = txn.open_table(OBJECTS).map_err(|e| e.to_string())?;
            for (key, body) in changes {
                match body {
                    Some(b) => {
                        table
                            .insert(key.as_str(), b.as_slice())
                            .map_err(|e| e.to_string())?;
                    }
                    None => {
                        table.remove(key.as_str()).map_err(|e| e.to_string())?;
                    }
                }
            }
            let mut meta = txn.open_table(META).map_err(|e| e.to_string())?;
            meta.insert("resourceVersion", resource_version)
                .map_err(|e| e.to_string())?;
        }
        txn.commit().map_err(|e| e.to_string())
    }
}
