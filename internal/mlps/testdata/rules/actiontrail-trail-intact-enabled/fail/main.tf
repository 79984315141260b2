resource "alicloud_actiontrail_trail" "t" {
  trail_name      = "gatehouse"
  oss_bucket_name = "gatehouse-trail"

}
