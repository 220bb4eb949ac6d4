//! `-w table`: ASCII tables for member lists and endpoint reports; other
//! responses are "table not supported as output format".

use etcd_proto::etcdserverpb::MemberListResponse;

use super::tablewriter::render;
use super::{
    db_status_rows, endpoint_hashkv_rows, endpoint_health_rows, endpoint_status_rows,
    member_list_rows, DbStatus, EpHashKv, EpHealth, EpStatus, Out, Printer,
};
use crate::v3::error::CtlResult;

/// The table printer.
pub struct TablePrinter;

impl Printer for TablePrinter {
    fn format(&self) -> &'static str {
        "table"
    }

    fn member_list(&self, o: &mut Out, r: &MemberListResponse) -> CtlResult {
        let (hdr, rows) = member_list_rows(r);
        o.print(&render(&hdr, &rows));
        Ok(())
    }

    fn endpoint_health(&self, o: &mut Out, r: &[EpHealth]) -> CtlResult {
        let (hdr, rows) = endpoint_health_rows(r);
        o.print(&render(&hdr, &rows));
        Ok(())
    }

    fn endpoint_status(&self, o: &mut Out, r: &[EpStatus]) -> CtlResult {
        let (hdr, rows) = endpoint_status_rows(r);
        o.print(&render(&hdr, &rows));
        Ok(())
    }

    fn endpoint_hashkv(&self, o: &mut Out, r: &[EpHashKv]) -> CtlResult {
        let (hdr, rows) = endpoint_hashkv_rows(r);
        o.print(&render(&hdr, &rows));
        Ok(())
    }

    fn db_status(&self, o: &mut Out, r: &DbStatus) -> CtlResult {
        let (hdr, rows) = db_status_rows(r);
        o.print(&render(&hdr, &rows));
        Ok(())
    }
}
