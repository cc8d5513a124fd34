"""The patient_imports repository."""

from __future__ import annotations

from datetime import datetime

from db.repositories.base import Repository, oid
from models.patient import PatientImport


class PatientImportRepository(Repository[PatientImport]):
    """patient_imports: CSV import reports with their rejected rows (the TTL index drops them after a day)."""

    collection_name = "patient_imports"
    model = PatientImport

    async def live(self, import_id: str, *, actor: str, now: datetime) -> PatientImport | None:
        """The report of this staff member's import unless it has expired."""
        found = self._load(await self.collection.find_one({"_id": oid(import_id), "actor": actor}))
        return found if found is not None and found.expires_at > now else None
