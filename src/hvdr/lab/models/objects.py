"""The objects cmdlets write to the pipeline: snapshots of model state with Hyper-V's property names."""

from __future__ import annotations

from typing import Any

from hvdr.lab.seam import PSObject


class ModelObject(PSObject):
    """Properties captured when the cmdlet ran (so later model changes do not leak into its output).

    ``ref`` points back at the model entity, for cmdlets that take the object from the pipeline or as a
    parameter (``Get-VMSnapshot … | Start-VMFailover``, ``-VM $vm``).
    """

    def __init__(self, type_name: str, properties: dict[str, Any], ref: object = None) -> None:
        self.ps_type_name = type_name
        self._properties = properties
        self.ref = ref

    def ps_properties(self) -> dict[str, Any]:
        return self._properties

    def __repr__(self) -> str:
        name = self._properties.get("Name") or self._properties.get("VMName")
        return f"<{self.ps_type_name.rsplit('.', 1)[-1]} {name!r}>"


HV = "Microsoft.HyperV.PowerShell."
