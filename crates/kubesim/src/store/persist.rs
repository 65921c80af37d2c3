//! Write-through persistence for `--data-dir`: every committed object change is written to a
//! redb database, and the store is rebuilt from it at start. redb is an embedded, crash-safe
//! key/value store, so a `rollout sim up` that is killed keeps what it had acknowledged.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

pub struct Persist {
    db: Database,
}

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
        Ok(Self { db })
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

    /// Writes one change (an object body, or `None` for a deletion) with the new resource version.
    pub fn write(
        &self,
        changes: &[(String, Option<Vec<u8>>)],
        resource_version: u64,
    ) -> Result<(), String> {
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
