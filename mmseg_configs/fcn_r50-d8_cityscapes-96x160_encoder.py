# DA-KPN-T semantic encoder: FCN-ResNet50-D8 trained on labelled Cityscapes
# train (the real target) at 96x160, validated on Cityscapes val -- the
# paper's variant whose encoder has seen labelled target data. mmseg 1.x
# Runner config:
#
#   python tools/train_segmentor.py \
#       mmseg_configs/fcn_r50-d8_cityscapes-96x160_encoder.py \
#       --data-root data/cityscapes
#   -> work_dirs/fcn_r50-d8_cityscapes-96x160_encoder/encoder.pth
#
# Reads *_gtFine_labelTrainIds.png when present, else maps
# *_gtFine_labelIds.png on the fly (CityscapesLabelIdsDataset): no
# conversion step. BN instead of SyncBN and pretrained=None (no download):
# for an ImageNet start, set model.pretrained or load_from to a local file.
_base_ = ['./fcn_r50-d8_gta5-96x160_encoder.py']

data_root = 'data/cityscapes'  # leftImg8bit/{train,val}, gtFine/{train,val}
# Same model, pipelines and schedule as the DA-KPN-S encoder; only the
# training data differ (the dataset inserts MapLabelIdsToTrainIds right
# after LoadAnnotations).
train_dataloader = dict(dataset=dict(
    _delete_=True,
    type='CityscapesLabelIdsDataset',
    data_root=data_root,
    data_prefix=dict(img_path='leftImg8bit/train',
                     seg_map_path='gtFine/train'),
    pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
